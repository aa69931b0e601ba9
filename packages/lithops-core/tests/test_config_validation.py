"""Config sections are checked against their schema with errors that name the source, the key and the fix."""

import pytest

from lithops.config import LITHOPS_SECTION, load_yaml_config, validate_section
from lithops.errors import ConfigError
from lithops.plugins.specs import ConfigKey

SCHEMA = {
    "workers": ConfigKey(type=int, default=4, minimum=1, doc="how many"),
    "ratio": ConfigKey(type=float, default=0.5, doc="a fraction"),
    "flavour": ConfigKey(type=str, default="plain", choices=("plain", "fancy"), doc="which"),
    "token": ConfigKey(type=str, required=True, secret=True, doc="API token"),
}


def test_defaults_are_filled():
    out = validate_section("x", {"token": "t"}, SCHEMA, "src")
    assert out == {"token": "t", "workers": 4, "ratio": 0.5, "flavour": "plain"}


def test_whole_floats_are_ints_and_ints_are_floats():
    out = validate_section("x", {"token": "t", "workers": 2.0, "ratio": 1}, SCHEMA, "src")
    assert out["workers"] == 2 and isinstance(out["workers"], int)
    assert out["ratio"] == 1.0 and isinstance(out["ratio"], float)


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"token": "t", "workers": "two"}, r"src: x\.workers must be int, got 'two'"),
        ({"token": "t", "workers": True}, r"x\.workers must be int"),
        ({"token": "t", "workers": 0}, r"x\.workers is 0; it must be at least 1"),
        ({"token": "t", "flavour": "odd"}, r"x\.flavour is 'odd'; it must be one of plain, fancy"),
        ({}, r"x\.token is required \(API token\)"),
        ("not a mapping", r"section 'x' must be a mapping"),
    ],
)
def test_bad_values(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        validate_section("x", values, SCHEMA, "src")


def test_unknown_key_warns_with_a_suggestion():
    with pytest.warns(UserWarning, match=r"unknown key x\.worker is ignored\. Did you mean 'workers'\?"):
        validate_section("x", {"token": "t", "worker": 3}, SCHEMA, "src")


def test_lithops_section_defaults():
    out = validate_section("lithops", {}, LITHOPS_SECTION, "src")
    assert out["execution_timeout"] == 1800 and out["data_limit"] == 4


def test_yaml_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "config"
    bad.write_text("lithops:\n  backend: localhost\n   storage: [oops\n")
    with pytest.raises(ConfigError, match=rf"{bad} is not valid YAML at line \d+"):
        load_yaml_config(str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml_config(str(tmp_path / "missing"))
    listy = tmp_path / "list"
    listy.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level"):
        load_yaml_config(str(listy))


def _storage_class():
    from lithops.backends.storage import StorageBackend

    class SchemaStorage(StorageBackend):
        name = "schemastore"
        config_schema = SCHEMA

        def put_object(self, bucket, key, body): ...
        def get_object(self, bucket, key, stream=False, extra_get_args=None): ...
        def head_object(self, bucket, key): ...
        def delete_object(self, bucket, key): ...
        def head_bucket(self, bucket): ...
        def create_bucket(self, bucket): ...
        def list_objects(self, bucket, prefix=None, match_pattern=None): ...

    return SchemaStorage


def test_a_backend_built_from_a_dict_gets_its_schema_defaults():
    storage = _storage_class()({"token": "t", "extra": 1})
    assert storage.config == {"token": "t", "extra": 1, "workers": 4, "ratio": 0.5, "flavour": "plain"}


def test_a_backend_built_from_a_dict_is_refused_a_bad_value(recwarn):
    with pytest.raises(ConfigError, match=r"schemastore\.workers is 0; it must be at least 1"):
        _storage_class()({"token": "t", "workers": 0})
    with pytest.raises(ConfigError, match=r"schemastore\.token is required"):
        _storage_class()({})
    assert not [w for w in recwarn if "unknown key" in str(w.message)]


def test_a_compute_backend_reads_max_workers_from_its_filled_section():
    from lithops.backends.compute import ComputeBackend

    class Compute(ComputeBackend):
        config_schema = {"max_workers": ConfigKey(type=int, default=7, minimum=1, doc="calls at once")}

        def invoke(self, job, report): ...

    assert Compute({}, {}).max_workers == 7
    assert Compute({"max_workers": 3}, {}).max_workers == 3

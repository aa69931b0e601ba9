"""The contract suites themselves: declared capabilities are checked, failures show the values compared."""

import subprocess
import sys
import textwrap

import pytest

from lithops.testing import ComputeContract, StorageContract


def test_a_misspelt_capability_is_an_error_with_a_suggestion():
    with pytest.raises(TypeError, match=r"unknown capabilities: 'worker_deaht' \(did you mean 'worker_death'\?\)"):
        type("TestMine", (ComputeContract,), {"skip_capabilities": {"worker_deaht"}})
    with pytest.raises(TypeError, match=r"The capabilities are: create_bucket\."):
        type("TestMine", (StorageContract,), {"skip_capabilities": {"buckets"}})
    assert type("TestMine", (ComputeContract,), {"skip_capabilities": {"timeout", "cancel"}})


def test_a_failed_check_shows_the_values_it_compared(tmp_path):
    (tmp_path / "test_wrong_size.py").write_text(textwrap.dedent('''
        import pytest
        from lithops.backends import StorageBackend
        from lithops.testing import StorageContract

        class WrongSize(StorageBackend):
            def __init__(self):
                super().__init__({})
                self.objects = {}
            def put_object(self, bucket, key, body):
                self.objects[key] = body
            def get_object(self, bucket, key, stream=False, extra_get_args=None):
                return self.objects[key]
            def head_object(self, bucket, key):
                return {"content-length": "7", "etag": "x", "last-modified": "0"}
            delete_object = head_bucket = create_bucket = list_objects = None

        class TestWrongSize(StorageContract):
            @pytest.fixture
            def storage(self):
                return WrongSize()
            @pytest.fixture
            def bucket(self):
                return "b"
    '''))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "test_empty_object",
                          str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "assert '7' == '0'" in out.stdout, out.stdout[-3000:]

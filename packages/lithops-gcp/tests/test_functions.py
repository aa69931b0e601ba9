"""gcp_functions through the google-cloud-functions client (REST) against the fake Cloud Functions API, which runs the
deployed source zip (our handlers) under Google's functions-framework as local processes: the https trigger
everywhere, the pub/sub trigger through the Pub/Sub emulator of google-cloud-cli where gcloud is installed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import lithops
from conftest import PROJECT, REGION, functions_config, gcs_section, make_bucket, new_bucket
from lithops.errors import BackendError
from lithops.testing import ComputeContract
from lithops_gcp.gcs.storage import GCSStorage
from lithops_gcp.testing.fake_functions import FakeCloudFunctions


@pytest.fixture(scope="module")
def class_bucket() -> str:
    return make_bucket(new_bucket("lithops-fn"))


@pytest.fixture(scope="module")
def fake_functions() -> Iterator[FakeCloudFunctions]:
    """The fake Cloud Functions API, without Pub/Sub (https trigger only)."""
    with FakeCloudFunctions(PROJECT, [REGION]) as api:
        yield api


@pytest.fixture(scope="module")
def fake_functions_pubsub(pubsub_emulator: Any) -> Iterator[FakeCloudFunctions]:
    """The fake Cloud Functions API with the Pub/Sub emulator; the client publishes to the emulator too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
        with FakeCloudFunctions(PROJECT, [REGION], pubsub_host=pubsub_emulator.host) as api:
            yield api


class TestFunctionsHttpsCompute(ComputeContract):
    @pytest.fixture
    def config(self, fake_functions: FakeCloudFunctions, class_bucket: str) -> dict[str, Any]:
        return functions_config(fake_functions.url, class_bucket, trigger="https")


class TestFunctionsPubSubCompute(ComputeContract):
    # Messages are fire and forget: a message whose payload cannot run is only logged by the function, and its
    # calls fail at their execution timeout.
    skip_capabilities = {"worker_failure"}

    @pytest.fixture
    def config(self, fake_functions_pubsub: FakeCloudFunctions, class_bucket: str) -> dict[str, Any]:
        return functions_config(fake_functions_pubsub.url, class_bucket)


def _count_words(obj: Any) -> int:
    return len(obj.data_stream.read().split())


@pytest.mark.parametrize("trigger", ["https", "pub/sub"])
def test_map_map_reduce_and_gs_data_map(trigger: str, class_bucket: str, request: pytest.FixtureRequest) -> None:
    api = request.getfixturevalue("fake_functions" if trigger == "https" else "fake_functions_pubsub")
    storage = GCSStorage(gcs_section())
    storage.put_object(class_bucket, "fwords/a.txt", b"one two three\nfour\n")
    storage.put_object(class_bucket, "fwords/b.txt", b"five six\n")
    with lithops.FunctionExecutor(config=functions_config(api.url, class_bucket, trigger=trigger)) as fexec:
        assert fexec.map(lambda x: x * 2, [1, 2, 3]).get_result() == [2, 4, 6]
        assert fexec.map_reduce(lambda x: x + 1, range(5), sum).get_result() == 15
        assert sorted(fexec.map(_count_words, f"gs://{class_bucket}/fwords/").get_result()) == [2, 4]


def test_function_of_another_python_is_refused_before_sending(fake_functions: FakeCloudFunctions,
                                                              class_bucket: str) -> None:
    """A function deployed by a client of another Python (runtime python39) is refused, with the fix."""
    from google.cloud import functions_v2

    from lithops_gcp.gcp_functions.functions import CloudFunctions, function_id

    section = dict(functions_config(fake_functions.url, class_bucket, trigger="https")["gcp_functions"],
                   project_name=PROJECT, region=REGION)
    functions = CloudFunctions(section)
    data, digest = functions.source_zip()
    fid = function_id("default", 512, "https")
    body = functions.function_body(fid, 512, functions.upload_source(data), digest)
    body["build_config"]["runtime"] = "python39"
    functions.client.create_function(parent=functions.parent, function_id=fid,
                                     function=functions_v2.Function(body)).result(timeout=60)
    before = fake_functions.invocations
    with lithops.FunctionExecutor(config=functions_config(fake_functions.url, class_bucket, trigger="https",
                                                          runtime_memory=512)) as fexec:
        with pytest.raises(BackendError, match=r"runs Python 3\.9, but this client runs Python .*Nothing was sent"):
            fexec.call_async(lambda x: x, 1)
    assert fake_functions.invocations == before


def test_pubsub_trigger_without_the_topic_is_refused(fake_functions_pubsub: FakeCloudFunctions) -> None:
    """The fake refuses an event trigger on a topic that does not exist, as Cloud Functions does."""
    from google.api_core import exceptions as api_exceptions
    from google.cloud import functions_v2

    from lithops_gcp.gcp_functions.functions import CloudFunctions

    section = dict(functions_config(fake_functions_pubsub.url, "unused")["gcp_functions"], project_name=PROJECT,
                   region=REGION, trigger="pub/sub")
    functions = CloudFunctions(section)
    data, digest = functions.source_zip()
    body = functions.function_body("no-topic", 256, functions.upload_source(data), digest)
    with pytest.raises(api_exceptions.NotFound, match=r"Topic .* does not exist"):
        functions.client.create_function(parent=functions.parent, function_id="no-topic",
                                         function=functions_v2.Function(body))


def test_missing_requirements_file_is_a_config_error(fake_functions: FakeCloudFunctions, class_bucket: str) -> None:
    config = functions_config(fake_functions.url, class_bucket, trigger="https", runtime="/nonexistent/req.txt")
    with pytest.raises(lithops.errors.ConfigError, match=r"gcp_functions\.runtime is /nonexistent/req\.txt"):
        lithops.FunctionExecutor(config=config)


def test_pubsub_timeout_over_the_limit_is_a_config_error(fake_functions: FakeCloudFunctions, class_bucket: str) -> None:
    config = functions_config(fake_functions.url, class_bucket, runtime_timeout=600)
    with pytest.raises(lithops.errors.ConfigError, match=r"runtime_timeout is 600; functions with the pub/sub "
                                                         r"trigger run at most 540 seconds.*trigger: https"):
        lithops.FunctionExecutor(config=config)


def test_disabled_api_error_names_the_api_to_enable(fake_functions: FakeCloudFunctions, class_bucket: str) -> None:
    fake_functions.api_enabled = False
    try:
        with lithops.FunctionExecutor(config=functions_config(fake_functions.url, class_bucket, trigger="https",
                                                              runtime_memory=1024)) as fexec:
            with pytest.raises(BackendError, match=r"Cloud Functions API has not been used in project .* Enable it "
                                                   r"by visiting https://console.developers.google.com/apis/api/"
                                                   r"cloudfunctions.googleapis.com"):
                fexec.call_async(lambda x: x, 1)
    finally:
        fake_functions.api_enabled = True

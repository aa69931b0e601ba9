"""Names Google accepts: Cloud Run service ids, function ids, image URIs and label values."""

from __future__ import annotations

import re

from lithops_gcp.gcp_cloudrun.services import label_value, service_id
from lithops_gcp.gcp_functions.functions import function_id, python_runtime, runtime_python

SERVICE_ID = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


def test_service_ids_are_valid_and_distinct() -> None:
    long_a = "europe-west1-docker.pkg.dev/my-project/lithops/" + "a" * 60 + ":1"
    long_b = long_a.replace(":1", ":2")
    ids = {service_id(r, 256) for r in ("default-runtime-v311", "My_Runtime:1", long_a, long_b)}
    assert len(ids) == 4
    assert all(len(i) <= 49 and SERVICE_ID.fullmatch(i) for i in ids), ids
    assert service_id("x", 256) != service_id("x", 512)


def test_function_ids_are_valid_per_trigger() -> None:
    a, b = function_id("default", 256, "pub/sub"), function_id("default", 256, "https")
    assert a != b and all(len(i) <= 63 and SERVICE_ID.fullmatch(i) for i in (a, b))


def test_python_runtime_ids_round_trip() -> None:
    assert python_runtime("3.11") == "python311" and runtime_python("python311") == "3.11"
    assert runtime_python("nodejs20") is None


def test_label_values_are_lower_case_and_short() -> None:
    value = label_value("Default_Runtime:V311/" + "x" * 80)
    assert value == value.lower() and len(value) <= 63 and re.fullmatch(r"[a-z0-9_-]*", value)

"""A call whose status says it succeeded but whose result object is gone fails with a clear error; the other
calls of its job return (before, the job was polled for ever, warning at every round)."""

import lossy_storage_plugin
import pytest

from conftest import inprocess_config
from lithops.errors import LithopsError
from lithops.executors import FunctionExecutor


def test_a_lost_result_fails_its_call_and_the_others_return(inprocess):
    inprocess.register(lossy_storage_plugin, name="lossy", package="lithops-core-tests-lossy")
    fexec = FunctionExecutor(config=inprocess_config("inprocess_storage", storage="lossy_storage"), log_level=None)
    try:
        futures = fexec.map(abs, [-1, -2, -3])
        fexec.wait(futures, throw_except=False, timeout=20)
        assert [futures[0].result(), futures[2].result()] == [1, 3]
        with pytest.raises(LithopsError, match=r"call 00001 of job .* finished, but its result .*00001/output\."
                                               r"pickle is missing from storage"):
            futures[1].result()
    finally:
        fexec.close()

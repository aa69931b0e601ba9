"""A worker never holds a finished call's status for long, even while its next call runs."""

import pickle
import pickletools
import socket
import time
from multiprocessing.connection import Connection

from lithops.job.status import CallStatus
from lithops_localhost.worker_main import FLUSH_SEC, Outbox


def _pair():
    a, b = socket.socketpair()
    return Connection(a.detach()), Connection(b.detach())


def _status(call_id):
    return CallStatus("ex", "M000", call_id, success=True, output=b"")


def test_a_quick_status_is_sent_while_the_next_call_runs():
    worker_end, pool_end = _pair()
    outbox = Outbox(worker_end)
    outbox.add(_status("00000"), urgent=False)
    start = time.monotonic()
    assert pool_end.poll(1.0), "status held back"  # nothing flushes it but the outbox's own timer
    assert time.monotonic() - start < FLUSH_SEC + 0.2
    assert [CallStatus.from_wire_fields("ex", "M000", f).call_id for f in pool_end.recv()[1]] == ["00000"]


def test_quick_statuses_travel_together_and_urgent_ones_at_once():
    worker_end, pool_end = _pair()
    outbox = Outbox(worker_end)
    for i in range(5):
        outbox.add(_status(f"{i:05d}"), urgent=False)
    outbox.add(_status("00005"), urgent=True)
    assert pool_end.poll(0.01)
    received = [CallStatus.from_wire_fields("ex", "M000", f).call_id for f in pool_end.recv()[1]]
    assert received == [f"{i:05d}" for i in range(6)]


def test_statuses_travel_as_plain_values():
    """Pickled statuses as objects cost several times more, in the worker and in the client, than their fields."""
    worker_end, pool_end = _pair()
    outbox = Outbox(worker_end)
    status = CallStatus("ex", "M000", "00007", success=False, exception=b"exc", stats={"worker_exec_time": 0.5},
                        logs=b"printed")
    outbox.add(status, urgent=True)
    assert pool_end.poll(1.0)
    message = pool_end.recv_bytes()
    assert not any(op.name in ("GLOBAL", "STACK_GLOBAL") for op, _, _ in pickletools.genops(message))
    (fields,) = pickle.loads(message)[1]
    assert CallStatus.from_wire_fields("ex", "M000", fields) == status

"""The record a worker produces for each call, in memory and as the ``status.json`` document."""

from __future__ import annotations

import base64
import json
import traceback
from dataclasses import dataclass, field
from typing import Any

from lithops.constants import PROTOCOL_VERSION
from lithops.errors import ProtocolMismatchError
from lithops.job import serialize
from lithops.job.job import job_key


class RemoteTraceback(Exception):
    """Carries the traceback text of an exception raised in a worker; shown as the cause of the re-raise."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return f'\n"""\n{self.tb}"""'


class RemoteError(Exception):
    """Stands for a worker exception that could not be pickled; keeps its type name, message and traceback."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.type_name, self.message))


def _message_of(exc: BaseException) -> str:
    """``str(exc)``, or a note saying why it cannot be had (a ``__str__`` that raises)."""
    try:
        return str(exc)
    except Exception as err:
        return f"(its message could not be read: {type(err).__qualname__} in __str__)"


def encode_exception(exc: BaseException) -> bytes:
    """Pickle an exception with its formatted traceback (falling back to a RemoteError). Never raises."""
    try:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # a traceback that cannot even be formatted
        tb = f"{type(exc).__qualname__}: {_message_of(exc)}\n(the traceback could not be formatted)\n"
    try:
        data = serialize.dumps((exc, tb))
        serialize.loads(data)  # an exception that pickles but cannot be rebuilt (custom __init__) fails here
        return data
    except Exception:
        return serialize.dumps((RemoteError(type(exc).__qualname__, _message_of(exc)), tb))


def decode_exception(data: bytes) -> BaseException:
    """Unpickle an exception from :func:`encode_exception`, with the remote traceback as its cause."""
    try:
        exc, tb = serialize.loads(data)
    except Exception as err:  # the exception's class cannot be imported here
        return RemoteError("UnreadableRemoteException", f"the worker's exception could not be loaded: {err}")
    exc.__cause__ = RemoteTraceback(tb)
    return exc  # type: ignore[no-any-return]


@dataclass
class CallStatus:
    """The outcome of one call.

    Attributes:
        executor_id, job_id, call_id: which call.
        success: the function returned (``output`` holds the pickled value) or raised/was stopped
            (``exception`` holds the pickled exception and traceback).
        output: pickled return value, when carried inline.
        output_key: storage key of the pickled return value, when written to storage instead.
        exception: pickled ``(exception, traceback_text)``.
        stats: timestamps and sizes (see docs/protocol.md).
        logs: the call's captured stdout and stderr, when carried inline (None: nothing printed, or kept in a
            file on the worker's machine).
        logs_key: storage key of the captured output, when written to storage instead.
    """

    executor_id: str
    job_id: str
    call_id: str
    success: bool
    output: bytes | None = None
    output_key: str | None = None
    exception: bytes | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    logs: bytes | None = None
    logs_key: str | None = None

    @property
    def job_key(self) -> str:
        """``<executor_id>-<job_id>``."""
        return job_key(self.executor_id, self.job_id)

    def wire_fields(self) -> tuple[Any, ...]:
        """The status without its job's ids, as a tuple of plain values, for a transport that knows which job each
        status belongs to: pickled and unpickled several times faster than the object. :meth:`from_wire_fields`
        makes the status again.
        """
        return (self.call_id, self.success, self.output, self.output_key, self.exception, self.stats, self.logs,
                self.logs_key)

    @classmethod
    def from_wire_fields(cls, executor_id: str, job_id: str, fields: tuple[Any, ...]) -> CallStatus:
        """The status of a call of job ``executor_id``/``job_id`` from its :meth:`wire_fields`."""
        return cls(executor_id, job_id, *fields)

    def to_json(self) -> str:
        """The ``status.json`` document (exception bytes as base64, output by key)."""
        doc = {
            "protocol": PROTOCOL_VERSION,
            "executor_id": self.executor_id,
            "job_id": self.job_id,
            "call_id": self.call_id,
            "success": self.success,
            "output_key": self.output_key,
            "exception": base64.b64encode(self.exception).decode() if self.exception is not None else None,
            "stats": self.stats,
            "logs_key": self.logs_key,
        }
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str | bytes) -> CallStatus:
        """Parse a ``status.json`` document."""
        doc = json.loads(text)
        if doc.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolMismatchError(
                f"the worker wrote a call status in job protocol {doc.get('protocol')}, this client speaks "
                f"{PROTOCOL_VERSION}. Rebuild the runtime with the same lithops-core version as the client."
            )
        exc = doc.get("exception")
        return cls(
            executor_id=doc["executor_id"],
            job_id=doc["job_id"],
            call_id=doc["call_id"],
            success=doc["success"],
            output_key=doc.get("output_key"),
            exception=base64.b64decode(exc) if exc is not None else None,
            stats=doc.get("stats") or {},
            logs_key=doc.get("logs_key"),
        )

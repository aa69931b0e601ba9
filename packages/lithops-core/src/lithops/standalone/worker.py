"""One warm worker process of the standalone agent: ``python -m lithops.standalone.worker REPLY_FD``.

It reads worker payloads (docs/protocol.md, storage transport), one JSON document per line, from stdin, runs each
with :func:`lithops.worker.handler.run_payload` (which writes every call's status to storage) and answers one JSON
line per payload on file descriptor REPLY_FD. What calls print to stdout goes to stderr, so it never mixes with the
replies. The process dies with its agent (Linux), so no call runs on after the agent is gone.
"""

from __future__ import annotations

import json
import os
import sys


def _die_with_agent() -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def main(argv: list[str]) -> int:
    """Serve payloads until stdin closes."""
    _die_with_agent()
    parent = os.getppid()
    reply = os.fdopen(int(argv[1]), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # prints go to the agent's log, not into the replies
    from lithops.worker.handler import run_payload

    for line in sys.stdin:
        if os.getppid() != parent:
            return 0
        payload = json.loads(line)
        try:
            answer: dict[str, object] = {"summary": run_payload(payload)}
        except Exception as exc:  # the payload was unusable; run_payload wrote failed statuses where it could
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        reply.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

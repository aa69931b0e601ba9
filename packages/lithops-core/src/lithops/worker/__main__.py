"""``python -m lithops.worker PAYLOAD.json``: run a storage-transport payload (container entry point)."""

from __future__ import annotations

import json
import sys

from lithops.worker.handler import run_payload


def main(argv: list[str]) -> int:
    """Read the payload from the file named in ``argv`` (or stdin) and run it."""
    if len(argv) > 1 and argv[1] != "-":
        with open(argv[1], encoding="utf-8") as f:
            payload = json.load(f)
    else:
        payload = json.load(sys.stdin)
    summary = run_payload(payload)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

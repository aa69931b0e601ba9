"""Runs gcp-storage-emulator with two socket settings of Python's HTTP server changed, for many small requests.

- A listen backlog of 1024 connections instead of 5: the emulator serves one request at a time, and with the
  default a burst of worker connections (300 calls writing statuses at once) overflows the queue; the kernel then
  drops connection attempts, which wait seconds for a retransmission.
- Nagle's algorithm off on its connections: its answers are written in several small pieces, and each small piece
  after the first waited for the client's delayed acknowledgement (40 ms a request).
- With ``--in-memory``, no snapshot of every object's metadata after each change: the emulator writes one (JSON,
  indented) to its in-memory file system after each put and delete, only to read it back when it restarts, which an
  in-memory emulator never does; each request then cost time in proportion to the objects stored (a job of 300 calls
  took minutes to clean up).

The emulator itself is unchanged: ``python -m lithops_gcp.testing.storage_emulator_main start ...`` takes its
command line.
"""

from __future__ import annotations

import http.server
import socketserver
import sys


def main() -> None:
    """Start the emulator's command line with the larger backlog."""
    http.server.HTTPServer.request_queue_size = 1024
    socketserver.StreamRequestHandler.disable_nagle_algorithm = True
    from gcp_storage_emulator.__main__ import main as emulator_main

    if "--in-memory" in sys.argv[1:] or "-M" in sys.argv[1:]:
        from gcp_storage_emulator.storage import Storage

        Storage._write_config_to_file = lambda self: None  # type: ignore[method-assign]

    emulator_main(sys.argv[1:])


if __name__ == "__main__":
    main()

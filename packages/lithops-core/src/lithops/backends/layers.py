"""Dependency layers of function runtimes (Lambda layers, Function Compute layers), built without a container:
the wheel platform tags a cloud's runtime can load, and the zip of the folder ``pip install --target`` filled.
"""

from __future__ import annotations

import io
import os
import zipfile


def manylinux_platforms(glibc: int, machine: str = "x86_64") -> list[str]:
    """Wheel platform tags (for ``pip install --platform``) that run on a Linux of glibc ``2.<glibc>`` and
    ``machine`` (``x86_64``, ``aarch64``): manylinux2014 and each manylinux_2_X from 17 up to that glibc (a wheel
    for a newer glibc installs, then fails to import in the cloud).
    """
    return [f"manylinux2014_{machine}"] + [f"manylinux_2_{x}_{machine}" for x in range(17, glibc + 1)]


def zip_folder(folder: str, prefix: str = "") -> bytes:
    """The files below ``folder`` as a zip (deflated, in sorted order, without ``__pycache__``), each under
    ``prefix`` (a layer's ``python/``) and its path relative to ``folder``.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                path = os.path.join(root, name)
                zf.write(path, os.path.join(prefix, os.path.relpath(path, folder)))
    return buf.getvalue()

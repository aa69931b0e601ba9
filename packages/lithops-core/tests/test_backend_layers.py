"""lithops.backends.layers: wheel platform tags of a runtime's glibc, and the zip of a pip target folder."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from lithops.backends.layers import manylinux_platforms, zip_folder


def test_platform_tags_go_up_to_the_runtimes_glibc() -> None:
    tags = manylinux_platforms(26, "aarch64")
    assert tags[0] == "manylinux2014_aarch64"
    assert tags[1] == "manylinux_2_17_aarch64"
    assert tags[-1] == "manylinux_2_26_aarch64"
    assert "manylinux_2_27_aarch64" not in tags
    assert manylinux_platforms(28)[-1] == "manylinux_2_28_x86_64"


def test_the_folder_is_zipped_under_the_prefix_in_order_without_bytecode(tmp_path: Path) -> None:
    tmp_path = tmp_path / "target"
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (tmp_path / "pkg" / "b.py").write_text("B = 2\n")
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "top.txt").write_text("top")
    with zipfile.ZipFile(io.BytesIO(zip_folder(str(tmp_path), "python"))) as zf:
        assert zf.namelist() == ["python/top.txt", "python/pkg/a.py", "python/pkg/b.py"]
        assert zf.read("python/pkg/a.py") == b"A = 1\n"
    with zipfile.ZipFile(io.BytesIO(zip_folder(str(tmp_path)))) as zf:
        assert "pkg/b.py" in zf.namelist()

"""Folders and files that only the user running Lithops can read or change.

Lithops keeps call output, job records and (with the localhost backend) stored objects on this machine, in
folders with predictable names such as ``/tmp/lithops-<user>``. On a machine shared with other users those
folders must be private, and another user must not be able to make Lithops write or read through a folder or a
link they control. :func:`private_dir` checks a folder each time it is used; :func:`open_dir`,
:func:`open_file` and :func:`write_atomic` reach what is inside without following symbolic links, creating
folders with mode 0700 and files with mode 0600.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from lithops.errors import PrivateFolderError

#: Mode of the folders Lithops creates for local state and stored objects.
DIR_MODE = 0o700
#: Mode of the files Lithops creates there.
FILE_MODE = 0o600
#: ``os.open`` flags added to every open of a file inside a private folder.
FILE_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | FILE_FLAGS

#: Folders whose parents were found safe: only this user or root can change those, so they stay safe.
_safe_parents: set[str] = set()


def _mode(st: os.stat_result) -> str:
    return oct(stat.S_IMODE(st.st_mode))[2:].zfill(4)


def _check_parents(path: str, what: str, fix: str) -> None:
    """Every folder above ``path`` must be owned by this user or root, and be writable by no one else unless it
    is sticky (like /tmp, where others cannot move or replace what is not theirs). Links count as their owner's
    and their targets are checked too.
    """
    uid = os.getuid()
    todo = [os.path.dirname(path)]
    while todo:
        parent = todo.pop()
        folder, linked = "/", False
        for part in [""] + [p for p in parent.split("/") if p]:
            folder = os.path.join(folder, part)
            st = os.lstat(folder)
            if st.st_uid not in (uid, 0):
                raise PrivateFolderError(
                    f"{what} {path} is inside {folder}, which belongs to another user (uid {st.st_uid}), who could "
                    f"move or replace it. {fix}"
                )
            if stat.S_ISLNK(st.st_mode):
                linked = True
            elif st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
                raise PrivateFolderError(
                    f"{what} {path} is inside {folder}, which other users can write (mode {_mode(st)}) and which "
                    f"is not sticky like /tmp, so they could move or replace it. {fix}"
                )
        if linked:
            todo.append(os.path.realpath(parent))


def _make(path: str) -> None:
    """Create ``path`` and any missing folder above it, each with mode 0700."""
    folder = "/"
    for part in [p for p in path.split("/") if p]:
        folder = os.path.join(folder, part)
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass


def private_dir(path: str, what: str, fix: str) -> str:
    """Create ``path`` if it is missing (mode 0700), check that it is private, and return it as an absolute path.

    Private means: a folder (or a link to one, made by this user or root) owned by this user, compared with
    ``os.getuid()`` so that root gets no exemption; writable by no one else; and under folders only this user or
    root can change (or sticky ones, such as /tmp). A folder of this user that others can read or enter is
    made 0700. Called on every use: after the first time it costs one ``lstat``.

    Args:
        path: the folder.
        what: how error messages name it (``"Lithops's local state folder"``).
        fix: the sentence that ends an error message, saying what to do.

    Raises:
        PrivateFolderError: the folder is not private; the message names the folder, the reason and ``fix``.
    """
    path = os.path.abspath(os.path.expanduser(path))
    if not hasattr(os, "getuid"):  # no POSIX owners here
        os.makedirs(path, exist_ok=True)
        return path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        _make(path)
        st = os.lstat(path)
    if path not in _safe_parents:
        _check_parents(path, what, fix)
        _safe_parents.add(path)
    if stat.S_ISLNK(st.st_mode):
        if st.st_uid not in (os.getuid(), 0):
            raise PrivateFolderError(
                f"{what} {path} is a link made by another user (uid {st.st_uid}), who could point it anywhere. {fix}"
            )
        real = os.path.realpath(path)
        if real not in _safe_parents:
            _check_parents(real, what, fix)
            _safe_parents.add(real)
        st = os.lstat(real)
    if not stat.S_ISDIR(st.st_mode):
        raise PrivateFolderError(f"{what} {path} exists and is not a folder. {fix}")
    if st.st_uid != os.getuid():
        raise PrivateFolderError(
            f"{what} {path} belongs to another user (uid {st.st_uid}, you are uid {os.getuid()}), who could read "
            f"what Lithops keeps there or plant links in it. {fix}"
        )
    if st.st_mode & 0o022:
        raise PrivateFolderError(
            f"{what} {path} can be written by other users (mode {_mode(st)}), who could plant files or links in "
            f"it. If you trust what it holds, run 'chmod 700 {path}'; otherwise remove it. {fix}"
        )
    if st.st_mode & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def check_name(name: str) -> str:
    """``name`` if it is one plain part of a path (not empty, ``.``, ``..``, and without ``/``); else ValueError."""
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a plain file or folder name")
    return name


def open_dir(root: str, parts: Iterable[str] = (), create: bool = False) -> int:
    """A descriptor of the folder ``root/part/part...``, reached one part at a time without following links.

    ``root`` must have passed :func:`private_dir`. With ``create``, missing parts are made with mode 0700.
    A part that is a link fails with ``OSError``. Close the descriptor when done.
    """
    fd = os.open(root, _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0))  # root itself may be a checked link
    try:
        for part in parts:
            check_name(part)
            try:
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, DIR_MODE, dir_fd=fd)
                except FileExistsError:
                    pass
                sub = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(dir_fd: int, name: str, flags: int) -> int:
    """Open file ``name`` of an open folder with ``flags``, never through a link; created with mode 0600."""
    return os.open(check_name(name), flags | FILE_FLAGS, FILE_MODE, dir_fd=dir_fd)


def write_atomic(dir_fd: int, name: str, data: bytes) -> None:
    """Replace file ``name`` of an open folder with ``data``, through a temporary file with a random name that is
    created exclusively, so a reader sees the old content or the new one.
    """
    tmp = f".{check_name(name)}.{os.urandom(8).hex()}.tmp"
    fd = open_file(dir_fd, tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise

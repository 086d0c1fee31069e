"""The one atomic write of the project (images and checkpoints): a temporary
file in the same folder, flushed and fsynced, then renamed over the target, so
an interrupted or failed write never leaves a half-written file and never
harms an existing one."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from inference.files import NAME_MAX


def _temporary_prefix(name: str) -> str:
    """'.NAME.' for the temporary file beside NAME, cut (in bytes) so that with
    mkstemp's 8 random characters and '.part' it still fits in one file name."""
    room = NAME_MAX - len("..") - 8 - len(".part")
    return f".{os.fsdecode(os.fsencode(name)[:room])}."


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path`, renamed over it on success. An existing
    regular file's permissions are kept; anything else gets the umask's default
    (a symlink is refused earlier, in `check_output`, never followed)."""
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(path.name), suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            existing = os.lstat(path)
        except OSError:
            existing = None
        if existing is not None and stat.S_ISREG(existing.st_mode):
            with contextlib.suppress(OSError):
                os.chmod(tmp, existing.st_mode & 0o7777)
        else:
            with contextlib.suppress(OSError):
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); best effort."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder or ".", os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""What is wrong with a path, in words, before anything opens it.

    reading_problem("in.png")     -> None, or "is a named pipe (FIFO), not a regular file"
    writing_problem("out.png")    -> None, or "the folder /x is not writable"

Only `os.stat` and `os.access` are used, so nothing here blocks (a FIFO is
never opened) or reads a device. Image and checkpoint loading and the command
line share these, so a path gets the same words wherever it is given.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

# POSIX limits of Linux: one name, and a whole path.
NAME_MAX = 255
PATH_MAX = 4096

_STAT_ERRORS = {
    errno.ENOENT: "no such file",
    errno.ENAMETOOLONG: f"the name is too long (at most {NAME_MAX} bytes a name, {PATH_MAX} in all)",
    errno.EACCES: "permission denied (a folder on the way cannot be searched)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ELOOP: "too many levels of symbolic links",
}


def _stat_problem(error: OSError) -> str:
    return _STAT_ERRORS.get(error.errno or 0, f"cannot be read ({error.strerror or error})")


def name_too_long(path: str | Path) -> str | None:
    """The length problem of `path` itself, checked without touching the disk."""
    text = os.fsencode(str(path))
    if len(text) >= PATH_MAX:
        return f"the path is too long ({len(text)} bytes; at most {PATH_MAX - 1})"
    longest = max((len(part) for part in text.split(b"/")), default=0)
    if longest > NAME_MAX:
        return f"a name in the path is too long ({longest} bytes; at most {NAME_MAX})"
    return None


def kind_of(mode: int) -> str | None:
    """Words for anything that is not a regular file."""
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode):
        return "is a character device (like /dev/zero), not a regular file"
    if stat.S_ISBLK(mode):
        return "is a block device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def reading_problem(path: str | Path) -> str | None:
    """Why `path` cannot be read as a regular file, or None when it can."""
    if str(path) == "":
        return "an empty name"
    too_long = name_too_long(path)
    if too_long:
        return too_long
    try:
        info = os.stat(path)  # follows a symlink: its target is what is read
    except OSError as error:
        return _stat_problem(error)
    kind = kind_of(info.st_mode)
    if kind:
        return kind
    if not os.access(path, os.R_OK):
        return "permission denied (the file is not readable)"
    return None


def writing_problem(path: str | Path) -> str | None:
    """Why a new file cannot be written at `path`, or None when it can (as
    far as can be told before writing: a full disk is found only then)."""
    path = Path(path)
    too_long = name_too_long(path)
    if too_long:
        return too_long
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder_info = os.stat(folder)
    except OSError as error:
        if error.errno == errno.ENOENT:
            return f"the folder {folder} does not exist"
        if error.errno == errno.ENOTDIR:
            return f"{_first_file(folder)} is a file, not a folder"
        return f"the folder {folder}: {_stat_problem(error)}"
    if not stat.S_ISDIR(folder_info.st_mode):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.X_OK):
        return f"the folder {folder} cannot be searched (no x permission), so nothing can be written in it"
    if not os.access(folder, os.W_OK):
        return f"the folder {folder} is not writable"
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        return _stat_problem(error)
    if stat.S_ISDIR(info.st_mode):
        return "is a folder"
    if stat.S_ISLNK(info.st_mode):
        # Refused on purpose: following it could replace a file far away (or
        # a device such as /dev/null); replacing it would surprise as much.
        return "is a symbolic link; refused (write to the file it points to by its own path)"
    if not os.access(path, os.W_OK):
        return "the existing file is read-only"
    return None


def _first_file(folder: Path) -> Path:
    """The first component of `folder` that is a file (the cause of ENOTDIR)."""
    for candidate in reversed([folder, *folder.parents]):
        if candidate.is_file():
            return candidate
    return folder


def is_folder(path: str | Path) -> bool:
    """Whether `path` is a folder; False (not an exception) for a name too
    long, a folder that cannot be searched, or any other stat failure."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same existing file (hard links and symlinks included)."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


# Data-set images (evaluation sets, training folders).
IMAGE_SUFFIXES = (".png", ".webp", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(root: str | Path) -> list[Path]:
    """Image files under root (recursively), sorted by their relative path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    return sorted((p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.relative_to(root).as_posix())

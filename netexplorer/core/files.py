"""Writing files so that a crash never leaves half of one, and reading user files
without trusting their size.

Checkpoints, exported models and saved specs all go through write_atomically:
the data goes to a temporary file in the target's folder, is flushed and fsynced,
then os.replace swaps it in (atomic on POSIX and Windows) and the folder is
fsynced so the rename itself survives a power cut. Killing the process at any
moment leaves either the old file or the new one, never a torn mix.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["FileTooLarge", "read_limited", "write_atomically", "write_text_atomically"]


class FileTooLarge(OSError):
    """A file larger than the reader allows (found while reading, not by trusting
    its declared size: /dev/zero and growing files have none)."""

    def __init__(self, path: str | os.PathLike, limit: int, size: int | None) -> None:
        self.path = Path(path)
        self.limit = limit
        self.size = size
        what = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
        super().__init__(f"{self.path} is {what}; at most {limit:,} are read")


def read_limited(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of `path`, or FileTooLarge as soon as more than `limit` are seen.

    At most limit + 1 bytes are ever read, so a 5 GB file or /dev/zero costs no
    more memory than the limit. Other OSErrors (missing, a folder, no permission)
    propagate for the caller to word.
    """
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
        if len(data) > limit:
            try:
                size = os.fstat(handle.fileno()).st_size
            except OSError:
                size = 0
            raise FileTooLarge(path, limit, size if size > limit else None)
    return data


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call write(handle) on a temporary file, then put it at `path`.

    OSError (no space, no permission, no such folder) propagates for the caller
    to word; the temporary file is removed whatever goes wrong.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return path


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

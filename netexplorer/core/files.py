"""Writing files so that a crash never leaves half of one, and reading user files
without trusting their size.

Checkpoints, exported models and saved specs all go through write_atomically:
the data goes to a temporary file in the target's folder, is flushed and fsynced,
then os.replace swaps it in (atomic on POSIX and Windows) and the folder is
fsynced so the rename itself survives a power cut. Killing the process at any
moment leaves either the old file or the new one, never a torn mix.

A process killed mid-write (SIGKILL, a power cut) cannot remove its temporary
file, so temporaries are named `.<target>.<pid>.<random>.tmp`: the next write of
the same target (or anyone calling remove_stale_temporaries, e.g. at start)
deletes those whose process is gone, and never one that a live process is still
writing.

mkstemp makes its file readable by its owner only (0600); the finished file gets
the mode a plain open() would have given it instead — the replaced file's mode,
or 0666 less the person's umask for a new one — so an export can be shared the way
every other file the person writes can.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileTooLarge", "current_umask", "read_limited", "remove_stale_temporaries",
           "write_atomically", "write_text_atomically"]

# Temporaries from before they carried the writer's pid cannot be told apart from
# a live write: they are removed only once this old.
LEGACY_TEMPORARY_AGE_S = 3600.0


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
    to word; the temporary file is removed whatever goes wrong. Temporaries left
    by earlier writers of `path` that were killed are removed first, so their
    space is free before this one is written.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                    dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            _give_plain_mode(handle.fileno(), path)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(folder)
    return path


def _give_plain_mode(fd: int, path: Path) -> None:
    """Set the temporary's mode to what open(path, "w") would leave: the mode of
    the file it replaces, else 0666 less the umask."""
    if os.name != "posix":  # pragma: no cover - Windows has no umask and no 0600 temporaries
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    os.fchmod(fd, mode)


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system says it
    (Linux's /proc/self/status); elsewhere set and restored at once under a lock —
    os.umask is the only way to read it there."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_text_atomically(path: str | os.PathLike, text: str) -> Path:
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed writers of `path` left behind.

    A temporary is stale when the process named in it no longer runs (another
    process's live write is left alone, and so is this process's own: another
    thread may be writing it). Returns what was removed; a file that cannot be
    removed or a folder that cannot be listed is left as it is, quietly — this is
    housekeeping, never a reason to fail a save.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    named = re.compile(rf"^\.{re.escape(path.name)}\.(?:(\d+)\.)?[A-Za-z0-9_]{{8}}\.tmp$")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = named.match(entry.name)
        if found is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if found.group(1) is not None:
                if _process_alive(int(found.group(1))):
                    continue
            elif time.time() - entry.stat(follow_symlinks=False).st_mtime \
                    < LEGACY_TEMPORARY_AGE_S:
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _process_alive(pid: int) -> bool:
    """Whether process `pid` exists (this process counts as alive)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    if os.name != "posix":  # pragma: no cover - no signal 0 there; keep others' files
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a pid we cannot ask about: keep it
    return True


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

"""Files written atomically get the mode a plain open() would give them, not
mkstemp's owner-only 0600: exports and checkpoints are shared like any other file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from netexplorer.core.files import current_umask, write_atomically, write_text_atomically

pytestmark = pytest.mark.skipif(os.name != "posix", reason="umask and modes are POSIX")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process's umask for one test, and put the old one back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_a_new_file_gets_the_umask(tmp_path, umask, mask):
    umask(mask)
    assert current_umask() == mask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")  # what any other program would make
    written = write_text_atomically(tmp_path / "model.onnx", "x")
    assert mode(written) == mode(plain) == 0o666 & ~mask
    binary = write_atomically(tmp_path / "model.ckpt", lambda handle: handle.write(b"\0"))
    assert mode(binary) == 0o666 & ~mask


def test_a_replaced_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "shared.csv"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomically(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.csv"]


def test_the_umask_is_read_where_proc_is_missing(umask, monkeypatch):
    """Without /proc (macOS, BSD) it is read by setting and restoring it."""
    import builtins

    real_open = builtins.open

    def no_proc(file, *args, **kwargs):
        if str(file).startswith("/proc/"):
            raise FileNotFoundError(file)
        return real_open(file, *args, **kwargs)

    umask(0o037)
    monkeypatch.setattr(builtins, "open", no_proc)
    assert current_umask() == 0o037
    assert current_umask() == 0o037  # and left as it was

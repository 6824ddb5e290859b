"""resources/ ships inside the wheel: an installed copy finds its presets without
the source tree. Built without network or build isolation from a copy of the
sources, so the checkout is left untouched."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_installed_package_loads_presets(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("netexplorer", "resources"):
        shutil.copytree(ROOT / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(target), str(src)],
                   check=True, capture_output=True, timeout=280)
    # Every package of the source tree is in the wheel (pyproject lists them by name).
    def packages(top: Path) -> set[str]:
        return {str(p.parent.relative_to(top)) for p in (top / "netexplorer").rglob("__init__.py")}

    assert packages(ROOT) - {"netexplorer/resources"} <= packages(target)
    shutil.rmtree(src)  # nothing left to fall back on
    code = ("import netexplorer.core.presets as p, netexplorer.core.assets as a; "
            "print(a.resource('presets')); print(p.get_preset('lenet').name); "
            "print(len(p.list_presets())); "
            "print(sorted(x.name for x in a.resource('icons').iterdir())[:1]); "
            "import netexplorer.core.digits as d; print(len(d.read_digits().labels))")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, "
                          f"{str(target)!r}); {code}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    location, name, count, _icons, digits = out.stdout.strip().splitlines()
    assert Path(location).is_relative_to(target), location
    assert name == "lenet"
    assert int(count) >= 4
    assert digits == "1797"  # resources/digits.npz shipped as package data

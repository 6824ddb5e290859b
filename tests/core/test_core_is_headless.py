"""netexplorer.core must never import Qt: the CLI and tests run without a display.
And the modules whose records cross to the GUI must not import torch, so that the
window can use them before torch has loaded (it paints first, then loads torch).

import-linter (`make lint`) checks the same rule on the source; this checks what
actually happens when every module is imported."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import netexplorer.core

# What the GUI imports at module level from core: none of them may pull in torch.
TORCH_FREE = ["netexplorer.core.assets", "netexplorer.core.catalog",
              "netexplorer.core.digits", "netexplorer.core.errors",
              "netexplorer.core.explain_pictures", "netexplorer.core.files",
              "netexplorer.core.formatting", "netexplorer.core.grids",
              "netexplorer.core.inspection",
              "netexplorer.core.inspection.advice", "netexplorer.core.inspection.diagnosis",
              "netexplorer.core.inspection.doctor", "netexplorer.core.inspection.history",
              "netexplorer.core.inspection.stats", "netexplorer.core.layers",
              "netexplorer.core.presets", "netexplorer.core.reports", "netexplorer.core.runs",
              "netexplorer.core.specs", "netexplorer.core.train_config"]


def core_modules() -> list[str]:
    """Every module of netexplorer.core, found on disk (none can escape the check)."""
    return sorted(info.name for info in pkgutil.walk_packages(netexplorer.core.__path__,
                                                             "netexplorer.core."))


def loaded_after_importing(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    imports = "; ".join(f"import {m}" for m in modules)
    code = (f"import sys; {imports}; "
            f"print(','.join(sorted(m for m in sys.modules if m.startswith({prefixes!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_core_imports_no_qt():
    modules = core_modules()
    assert "netexplorer.core.inspection.probe" in modules  # the walk reaches subpackages
    bad = loaded_after_importing(modules, ("PySide6", "pyqtgraph", "shiboken6"))
    assert bad == [], f"netexplorer.core loaded Qt modules: {bad}"


def test_records_for_the_gui_import_no_torch():
    assert set(TORCH_FREE) <= set(core_modules())
    bad = loaded_after_importing(TORCH_FREE, ("torch",))
    assert bad == [], f"these modules loaded torch: {bad[:5]}"

"""netexplorer.core must never import Qt: the CLI and tests run without a display."""

from __future__ import annotations

import subprocess
import sys

CORE_MODULES = ["assets", "catalog", "checkpoints", "data", "devices", "errors",
                "evaluation", "export", "files", "formatting", "inspection", "layers", "losses",
                "presets", "runs", "specs", "train_config", "training"]


def test_core_imports_no_qt():
    imports = "; ".join(f"import netexplorer.core.{m}" for m in CORE_MODULES)
    code = (f"import sys; {imports}; "
            "bad = sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', "
            "'shiboken6'))); print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "", f"netexplorer.core loaded Qt modules: {out.stdout}"


def test_every_core_module_is_listed():
    """New core modules join the check above instead of escaping it."""
    from pathlib import Path

    import netexplorer.core

    folder = Path(netexplorer.core.__file__).parent
    found = sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    assert found == sorted(CORE_MODULES)

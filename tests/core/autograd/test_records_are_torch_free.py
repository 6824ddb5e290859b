"""The lab's records, layout and writers load without torch: the Autograd tab is
built before torch has loaded (the window paints first)."""

from __future__ import annotations

import subprocess
import sys

TORCH_FREE = ["netexplorer.core.autograd", "netexplorer.core.autograd.allowlist",
              "netexplorer.core.autograd.lessons", "netexplorer.core.autograd.graph",
              "netexplorer.core.autograd.layout", "netexplorer.core.autograd.writers",
              "netexplorer.core.autograd.snapshot", "netexplorer.core.autograd.model_graph",
              "netexplorer.core.autograd.outputs"]


def test_the_records_import_no_torch():
    code = ("import sys; " + "; ".join(f"import {m}" for m in TORCH_FREE)
            + "; print(any(m == 'torch' or m.startswith('torch.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "False"

"""What the status bar and About box say about the machine: torch, device, threads.

Finding out imports torch (seconds), so it runs on a worker thread after the
window has painted. Device choice and the thread policy are core.devices'.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    torch_version: str
    device: str  # "CPU", or "CUDA (<GPU name>)"
    threads: int  # intra-op CPU threads training uses while the window is open


def probe_environment() -> Environment:
    """Runs on a worker thread: imports torch and asks core.devices about the machine."""
    import torch

    from netexplorer.core import devices

    device = devices.resolve_device("auto")
    label = "CPU" if device.type == "cpu" else f"CUDA ({torch.cuda.get_device_name(device)})"
    return Environment(torch.__version__, label, devices.thread_policy(interactive=True))

"""Where training runs: device discovery, device choice, and the CPU thread policy
-----------------
PyTorch's intra-op (OpenMP) pool defaults to one thread per core, and its
workers spin while they wait for work. When anything else wants a core — the GUI
thread painting plots, another process, the rest of a laptop — the spinning pool
and that work fight, and step times jump by an order of magnitude. Measured on the
2-core development machine with `benchmarks/bench_threads.py` (LeNet, batch 64,
SGD with momentum; median / p95 / max step time in ms):

    threads  alone                + busy GUI-like thread   + busy second process
    1        22.4 / 24.7 / 28.3   26.4 / 28.7 / 34.3       21.5 / 23.5 / 47.1
    2        13.4 / 14.6 / 19.1   26.6 / 36.1 / 61.8       32.8 / 590 / 715

and again while other sessions loaded the machine:

    1        23.6 / 30.8 / 34.5   37.6 / 44.8 / 52.9       23.9 / 50.6 / 64.6
    2        53.6 / 392 / 408     53.7 / 158 / 439         34.7 / 580 / 616

(A LeNet step was seen going from ~6 ms to 50–190 ms the same way.) Two
threads win only on a machine with nothing else running; beside a busy thread they
give no speed-up and a long tail, and beside any busy process they stall for half
a second at a time. OMP_WAIT_POLICY=PASSIVE removes the stalls but also the
speed-up (2 threads: 29 ms alone), and must be set before torch is imported.
Hence the policy: **use all cores but one** (1 on a 2-core machine), for the GUI
(the event loop always has a core, so plots never stutter) and headless alike (a
CLI run shares its machine too; a second core buys at most 1.7× on an idle one
and costs 20× when anything else runs). NETEXPLORER_THREADS overrides it.

Inter-op threads are set to 1: the models here are sequential, and a second pool
only adds more spinning threads.

Memory allocator
----------------
On the CPU every training step allocates and frees the same tensors (activations,
gradients, optimizer temporaries). With glibc's defaults the larger ones are
mapped and unmapped, or trimmed off the heap, on every step, so each step
page-faults its working set back in: 700–1,200 minor faults per LeNet step
(batch 64) measured here, about 10 % of the step (21.2 vs 23.5 ms). Raising the
mmap and trim thresholds (`tune_allocator`) keeps that memory in the process
between steps — faults drop to ~10 per step — at the price of holding on to up to
TRIM_THRESHOLD of freed heap. It is what PyTorch's CPU tuning guide gets by
swapping in jemalloc or tcmalloc, without a native dependency. Elsewhere than
glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass

import torch

from netexplorer.core.errors import DeviceError

__all__ = ["DeviceError", "DeviceInfo", "apply_cpu_policy", "available_devices",
           "cpu_count", "describe", "resolve_device", "thread_policy", "tune_allocator"]

THREADS_ENV = "NETEXPLORER_THREADS"

# glibc mallopt parameters (malloc.h) and the values tune_allocator sets.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # blocks above this are still mapped (and returned) one by one
TRIM_THRESHOLD = 128 * 2**20  # free heap kept for the next step before any goes back
_allocator_tuned: bool | None = None  # set once per process


@dataclass(frozen=True)
class DeviceInfo:
    """One entry of the device chooser."""

    name: str  # "cpu", "cuda:0", …
    label: str  # what a person reads: "NVIDIA H100 (79.1 GB)"
    available: bool
    reason: str = ""  # why it is unavailable
    memory_bytes: int = 0


def cpu_count() -> int:
    """Cores this process may use (affinity-aware where the OS tells us)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def thread_policy(interactive: bool = True) -> int:
    """Intra-op threads to use: see the module docstring for the measurements.

    `interactive` says whether a GUI shares the process; today both answers are
    the same (all cores but one), and the flag keeps callers honest if the
    measurements ever say otherwise.
    """
    override = os.environ.get(THREADS_ENV, "").strip()
    if override:
        try:
            return max(1, int(override))
        except ValueError:
            pass
    return max(1, cpu_count() - 1)


def tune_allocator() -> bool:
    """Keep freed tensor memory in the process between training steps (see the
    module docstring). Returns whether the C library accepted it (glibc only)."""
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            mallopt = getattr(libc, "mallopt", None)
        except OSError:
            mallopt = None
        if mallopt is not None:
            _allocator_tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                                    and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _allocator_tuned


def apply_cpu_policy(interactive: bool = True) -> int:
    """Prepare this process to train: PyTorch's thread counts by the policy and the
    allocator tuned (see the module docstring). Returns the intra-op thread count.

    torch allows the inter-op count to be set only once per process and before any
    inter-op work, so that part is best-effort.
    """
    tune_allocator()
    threads = thread_policy(interactive)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set, or parallel work already ran: harmless
    return threads


def cuda_unavailable_reason() -> str:
    if torch.version.cuda is None:
        return f"this PyTorch ({torch.__version__}) was built without CUDA support"
    if not torch.cuda.is_available():
        return "no CUDA GPU or driver was found on this machine"
    return ""


def available_devices() -> list[DeviceInfo]:
    """The CPU and every CUDA device; without CUDA, one disabled entry saying why."""
    devices = [DeviceInfo("cpu", f"CPU ({cpu_count()} cores)", True)]
    reason = cuda_unavailable_reason()
    if reason:
        devices.append(DeviceInfo("cuda", "CUDA GPU", False, reason))
        return devices
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(DeviceInfo(f"cuda:{index}",
                                  f"{props.name} ({props.total_memory / 1e9:.1f} GB)", True,
                                  memory_bytes=int(props.total_memory)))
    return devices


def resolve_device(name: str) -> torch.device:
    """`auto` → the first CUDA device if there is one, else the CPU; `cuda` or
    `cuda:N` on a machine without it is a DeviceError that says why."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        reason = cuda_unavailable_reason()
        if reason:
            raise DeviceError(f"device {name!r} was requested but {reason}; use --device cpu "
                              f"or auto")
        index = 0
        if name.startswith("cuda:"):
            try:
                index = int(name[5:])
            except ValueError:
                raise DeviceError(f"{name!r} is not a device: write cuda:0, cuda:1, …") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise DeviceError(f"{name!r} does not exist: this machine has {count} CUDA "
                              f"device(s), cuda:0 to cuda:{count - 1}")
        return torch.device("cuda", index)
    raise DeviceError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def describe(device: torch.device) -> str:
    """A short label for status bars and metrics."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"

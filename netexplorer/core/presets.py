"""Ready-made networks, stored as ModelSpec JSON under resources/presets/.

The tutorial's networks (lenet, cifar-net), the classic MNIST example
(mnist-cnn), a plain mlp, a small batch-normalised VGG for CIFAR-10, and
deep-sigmoid, which exists to show vanishing gradients in the inspector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from netexplorer.core.assets import resource
from netexplorer.core.specs import ModelSpec, SpecError

DEFAULT_PRESET = "lenet"


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    spec: ModelSpec


@lru_cache(maxsize=1)
def _load_all() -> dict[str, PresetInfo]:
    found: dict[str, PresetInfo] = {}
    folder = resource("presets")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        text = entry.read_text(encoding="utf-8")
        spec = ModelSpec.from_json(text)
        description = json.loads(text).get("description", "")
        found[spec.name] = PresetInfo(spec.name, description, spec)
    return found


def list_presets() -> list[PresetInfo]:
    """Every shipped preset, the tutorial's LeNet first."""
    presets = _load_all()
    order = [DEFAULT_PRESET] + sorted(n for n in presets if n != DEFAULT_PRESET)
    return [presets[n] for n in order if n in presets]


def preset_names() -> list[str]:
    return [p.name for p in list_presets()]


def get_preset(name: str) -> ModelSpec:
    """The preset's spec; SpecError naming the known presets if there is none."""
    presets = _load_all()
    if name not in presets:
        raise SpecError(f"there is no preset {name!r}; choose one of {', '.join(preset_names())}")
    return presets[name].spec

"""Saliency maps as pictures: the same colours in the app and in the CLI's PNG.

numpy only (Pillow, a dependency, only to write the PNG), no torch and no Qt: the
window colours an Explanation that has crossed threads, and `netexplorer explain`
writes the picture without a display. Colour scales:

- gradient × input is signed: blue pushes the class's score down, red up, white
  nothing; one scale, symmetric about 0, from the largest magnitude;
- Grad-CAM is ≥ 0: a dark-to-bright heat scale (like matplotlib's inferno) laid
  half see-through over the image in grey, brightest where the evidence is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - core.explain imports torch
    from netexplorer.core.explain import Explanation

# Anchor colours of the two scales, interpolated linearly in between.
HEAT = np.array([(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66),
                 (245, 125, 21), (250, 193, 39), (252, 255, 164)], np.float32) / 255.0
DIVERGING = np.array([(5, 48, 97), (67, 147, 195), (209, 229, 240), (247, 247, 247),
                      (253, 219, 199), (214, 96, 77), (103, 0, 31)], np.float32) / 255.0
CAM_OPACITY = 0.55


def colourise(values01: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """H×W values in [0, 1] → H×W×3 RGB in [0, 1] along `scale`'s anchors."""
    v = np.clip(np.nan_to_num(np.asarray(values01, np.float32), nan=0.0), 0.0, 1.0)
    stops = np.linspace(0.0, 1.0, len(scale))
    return np.stack([np.interp(v, stops, scale[:, c]) for c in range(3)], axis=-1
                    ).astype(np.float32)


def signed_picture(values: np.ndarray) -> np.ndarray:
    """A signed H×W map on the diverging scale, symmetric about 0 (white)."""
    values = np.nan_to_num(np.asarray(values, np.float32))
    edge = float(np.abs(values).max()) if values.size else 0.0
    return colourise(0.5 + 0.5 * values / edge if edge > 0 else np.full_like(values, 0.5),
                     DIVERGING)


def heat_overlay(grey01: np.ndarray, heat: np.ndarray, opacity: float = CAM_OPACITY
                 ) -> np.ndarray:
    """A ≥ 0 H×W map on the heat scale (0 to its maximum) over an H×W grey image."""
    heat = np.nan_to_num(np.asarray(heat, np.float32))
    top = float(heat.max()) if heat.size else 0.0
    coloured = colourise(heat / top if top > 0 else np.zeros_like(heat), HEAT)
    base = np.repeat(np.clip(grey01, 0.0, 1.0)[..., None], 3, axis=-1)
    return ((1 - opacity) * base + opacity * coloured).astype(np.float32)


def display_image(image: np.ndarray, mean: Sequence[float], std: Sequence[float]
                  ) -> np.ndarray:
    """A model-ready C×H×W image back to H×W×3 pixels in [0, 1] (normalisation undone)."""
    image = np.asarray(image, np.float32)
    m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, np.float32).reshape(-1, 1, 1)
    pixels = np.clip(image * s + m, 0.0, 1.0)
    if pixels.shape[0] == 1:
        pixels = np.repeat(pixels, 3, axis=0)
    return np.ascontiguousarray(pixels[:3].transpose(1, 2, 0))


def nearest_resize(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """An h×w map shown at H×W with its own cells kept sharp (nearest neighbour)."""
    h, w = values.shape[:2]
    rows = np.minimum(np.arange(height) * h // height, h - 1)
    cols = np.minimum(np.arange(width) * w // width, w - 1)
    return values[rows][:, cols]


@dataclass(frozen=True)
class Panel:
    """One picture of the trace: H×W×3 RGB in [0, 1], a caption and a sentence on it."""

    pixels: np.ndarray
    caption: str
    about: str


def saliency_panels(explanation: Explanation, mean: Sequence[float], std: Sequence[float],
                    class_name: str) -> list[Panel]:
    """The image, gradient × input, and (with a convolution) Grad-CAM over the image
    and at the convolution's own resolution — all at the input's size."""
    pixels = display_image(explanation.image, mean, std)
    grey = pixels.mean(axis=-1)
    height, width = grey.shape
    panels = [Panel(pixels, "image", "the image as the model sees it"),
              Panel(signed_picture(explanation.saliency), "gradient × input",
                    f"red pixels raise the score of {class_name}, blue ones lower it")]
    cam, cam_up, layer = explanation.grad_cam, explanation.grad_cam_upsampled, \
        explanation.cam_layer
    if cam is not None and cam_up is not None and layer is not None:
        h, w = cam.shape
        panels.append(Panel(heat_overlay(grey, cam_up), f"Grad-CAM ({layer})",
                            f"where {layer}'s maps hold the evidence for {class_name}, "
                            f"stretched to the image"))
        panels.append(Panel(heat_overlay(grey, nearest_resize(cam, height, width)),
                            f"{layer}: {h}×{w}",
                            f"Grad-CAM at {layer}'s own {h}×{w} resolution"))
    return panels


def class_name(classes: Sequence[str], index: int | None) -> str:
    """A class as a person reads it: its name, its number when unnamed, – when unknown."""
    if index is None:
        return "–"
    return str(classes[index]) if 0 <= index < len(classes) else str(index)


def picture_title(explanation: Explanation, classes: Sequence[str], model: str) -> str:
    """The saliency picture's title: the model, the image, its truth and prediction."""
    where = (f"{explanation.split} image #{explanation.index:,}"
             if explanation.index is not None else "the image")
    truth = f"true {class_name(classes, explanation.label)}, " \
        if explanation.label is not None else ""
    return (f"{model}, {where}: {truth}predicted "
            f"{class_name(classes, explanation.predicted)} "
            f"({100 * explanation.confidence:.1f} %)")


def write_saliency_png(path: str | Path, explanation: Explanation, mean: Sequence[float],
                       std: Sequence[float], classes: Sequence[str], title: str,
                       cell: int = 192) -> Path:
    """The saliency panels side by side, each about `cell` pixels wide, under `title`,
    with the class probabilities as bars on the right; written as a PNG."""
    from PIL import Image, ImageDraw

    panels = saliency_panels(explanation, mean, std, class_name(classes, explanation.target))
    height, width = panels[0].pixels.shape[:2]
    scale = max(1, cell // max(height, width))
    font, small = _font(14), _font(12)
    if not _has_times_sign(font):  # Pillow's own font has no ×: write an x instead
        title = title.replace("×", "x")
        panels = [replace(p, caption=p.caption.replace("×", "x")) for p in panels]
    margin, gap, line = 16, 12, 20
    bars_width = 260
    panel_w, panel_h = width * scale, height * scale
    rows = len(explanation.probabilities)
    chart_h = rows * line
    body_h = max(panel_h + line, chart_h)
    size = (2 * margin + len(panels) * (panel_w + gap) + bars_width,
            2 * margin + line + 8 + body_h)
    picture = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    draw.text((margin, margin), title, fill=(20, 20, 20), font=font)
    top = margin + line + 8
    for i, panel in enumerate(panels):
        x = margin + i * (panel_w + gap)
        rgb = (np.clip(panel.pixels, 0, 1) * 255).round().astype(np.uint8)
        image = Image.fromarray(rgb, "RGB").resize((panel_w, panel_h), Image.Resampling.NEAREST)
        picture.paste(image, (x, top))
        draw.rectangle((x - 1, top - 1, x + panel_w, top + panel_h), outline=(180, 180, 180))
        draw.text((x, top + panel_h + 4), panel.caption, fill=(60, 60, 60), font=small)
    left = margin + len(panels) * (panel_w + gap) + 8
    names = [class_name(classes, row) for row in range(rows)]
    if explanation.label is not None and explanation.label < rows:
        names[explanation.label] += " (true)"
    label_w = 12 + max(int(draw.textlength(name, font=small)) for name in names)
    span = bars_width - label_w - 70
    for row, (name, p) in enumerate(zip(names, explanation.probabilities)):
        y = top + row * line
        colour = (225, 87, 89) if row == explanation.predicted else (78, 121, 167)
        draw.text((left, y + 2), name, fill=(40, 40, 40), font=small)
        draw.rectangle((left + label_w, y + 3, left + label_w + max(1, round(span * float(p))),
                        y + line - 4), fill=colour)
        draw.text((left + label_w + span + 6, y + 2), f"{100 * float(p):.1f} %",
                  fill=(40, 40, 40), font=small)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, format="PNG")
    return path


def _font(size: int):
    """DejaVu Sans where the system has it (most Linux desktops), else Pillow's own."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size=size)


def _has_times_sign(font) -> bool:
    """Whether `font` draws × (a missing glyph comes out as the same box as U+FFFF)."""
    try:
        return font.getmask("×").getbbox() != font.getmask("\uffff").getbbox()
    except (AttributeError, UnicodeEncodeError):
        return False

"""Shared steps of the Inspector, Evaluation and Export tests: tiny runs through the
window's training session, poisoned checkpoints, clicks on heatmap cells."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from netexplorer.core.training import TrainConfig
from netexplorer.ui.main_window import MainWindow
from netexplorer.ui.widgets.heatmap import HeatmapView

# Short and repeatable: LeNet on the bundled digits, one epoch on the CPU.
QUICK = dict(epochs=1, device="cpu", augment_shift=0, schedule="none")


def train(qtbot, window: MainWindow, timeout: int = 60_000, **changes: Any):
    """Start a run on the session and wait for its end; returns the RunHistory."""
    session = window.session
    with qtbot.waitSignal(session.runFinished, timeout=timeout) as finished:
        session.start(TrainConfig(**{**QUICK, **changes}))
    qtbot.waitUntil(lambda: session.state == "idle", timeout=5_000)
    return finished.args[0]


def open_poisoned_checkpoint(window: MainWindow, folder: Path,
                             poison: Callable[[Any], None]) -> None:
    """Hand the session, as File → Open checkpoint does, a checkpoint of the current
    spec whose weights `poison(model)` changed: the next run continues from them.

    The file itself is a healthy one (load_checkpoint refuses non-finite weights);
    the poison is applied to what was read from it."""
    from dataclasses import replace

    import torch

    from netexplorer.core.checkpoints import load_checkpoint, save_checkpoint
    from netexplorer.core.specs import build_model

    spec = window.model_panel.spec
    torch.manual_seed(0)
    model = build_model(spec)
    path = save_checkpoint(folder / "poisoned.ckpt", spec=spec, model=model,
                           dataset=window.data_view.dataset)
    checkpoint = load_checkpoint(path)
    with torch.no_grad():
        poison(model)
    poisoned = {name: value.detach().clone() for name, value in model.state_dict().items()}
    window.session.load_checkpoint(replace(checkpoint, model_state=poisoned))


def click_cell(qtbot, heatmap: HeatmapView, row: int, column: int) -> None:
    """A real mouse click on a heatmap cell."""
    viewport = heatmap.plot.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=heatmap.cell_center(row, column))


def model_outputs(qtbot, window: MainWindow, x) -> Any:
    """The session model's outputs for `x`, computed where the model may be used."""
    session = window.session

    def job(context, batch):
        import torch

        model = context.model
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                return model(batch).clone(), {k: v.clone() for k, v in
                                              model.state_dict().items()}
        finally:
            model.train(was)

    handle = session.submit(job, x)
    with qtbot.waitSignal(handle.finished, timeout=30_000) as done:
        pass  # outcomes are handled on this thread: none can arrive before the wait
    return done.args[0]

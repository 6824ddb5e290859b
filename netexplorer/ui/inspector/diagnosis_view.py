"""The run's diagnosis at the top of the Inspector: the same verdict the Training
tab's banner gives (core/inspection/diagnosis.py), and — when the run diverged —
the batch whose step went non-finite, so a person can look at what it was fed.

Hidden while a run is healthy: it appears when a run ends with a verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from netexplorer.core.inspection.diagnosis import RunFacts, Verdict, diagnose
from netexplorer.ui.widgets.accessibility import named
from netexplorer.ui.widgets.image_grid import ImageGridView
from netexplorer.ui.widgets.result_banner import ResultBanner

if TYPE_CHECKING:  # pragma: no cover - runs imports torch
    from netexplorer.core.reports import NonFiniteSite

# Columns of the diverged batch's grid (a batch of 64 shows as 4 rows of 16).
BATCH_COLUMNS = 16


class DiagnosisView(QWidget):
    """`banner` says the verdict; `batch_grid` shows a diverged step's images, each
    of which a click explains (imageChosen)."""

    imageChosen = Signal(str, int)  # a click on an image of the batch: its split and index

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        named(self, "inspectorDiagnosis", "Diagnosis of the run")
        self.banner = ResultBanner()
        self.banner.setObjectName("inspectorVerdict")
        self.batch_caption = named(QLabel(), "divergedBatchCaption", "The batch that diverged")
        self.batch_grid = ImageGridView()
        self.batch_grid.setObjectName("divergedBatch")
        self.batch_grid.set_clickable(True)
        self.batch_grid.imageChosen.connect(self.imageChosen)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.batch_caption)
        layout.addWidget(self.batch_grid)
        self.verdicts: list[Verdict] = []
        self.clear()

    def clear(self) -> None:
        self.verdicts = []
        self.batch_caption.hide()
        self.batch_grid.hide()
        self.hide()

    def show_run(self, run: Any) -> list[Verdict]:
        """Show the verdicts on a finished RunHistory; returns them (none: hidden)."""
        self.clear()
        self.verdicts = diagnose(RunFacts.of_run(run))
        if not self.verdicts:
            return []
        first = self.verdicts[0]
        self.banner.show_result(first.severity, "\n".join(str(v) for v in self.verdicts))
        site = run.finished.nonfinite if run.finished is not None else None
        if site is not None and site.images is not None and len(site.images):
            self._show_batch(site)
        self.show()
        return self.verdicts

    def _show_batch(self, site: NonFiniteSite) -> None:
        import torch

        from netexplorer.core.data import image_grid

        grid = image_grid(torch.from_numpy(site.images), columns=BATCH_COLUMNS,
                          scale=max(1, 32 // max(site.images.shape[-2:])))
        self.batch_grid.show_grid(grid, tooltips=[f"training image #{i}" for i in site.batch],
                                  sources=("train", site.batch))
        self.batch_caption.setText(f"The batch of step {site.step} ({len(site.batch)} "
                                   f"training images), replayed from the last finite weights:")
        self.batch_caption.show()
        self.batch_grid.show()

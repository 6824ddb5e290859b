"""Installs visual debugging into the main window with one call: the Inspector and
Evaluation tabs and the File → Export submenu, wired to the window's training
session, redraw clock and model panel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot

from netexplorer.ui.evaluation.evaluation_panel import EvaluationPanel
from netexplorer.ui.files.export import Exporter, install_export_menu
from netexplorer.ui.icons import icon
from netexplorer.ui.inspector.inspector_panel import DEFAULT_PROBE_EVERY, MAX_PROBE_EVERY, InspectorPanel

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.ui.main_window import MainWindow

PROBE_SETTING = "inspector/probe_every"  # in the window's settings: steps, or "off"


@dataclass
class VisualDebugging:
    """What install_visual_debugging added (also reachable as window attributes)."""

    inspector: InspectorPanel
    evaluation: EvaluationPanel
    exporter: Exporter


class _Wiring(QObject):
    """Connects the panels to the rest of the window through @Slot methods."""

    def __init__(self, window: MainWindow, inspector: InspectorPanel,
                 evaluation: EvaluationPanel) -> None:
        super().__init__(window)
        self._window = window
        self._inspector = inspector
        inspector.layerChosen.connect(self._on_layer_chosen)
        inspector.probeSettingChanged.connect(self._on_probe_setting_changed)
        inspector.nonFiniteFound.connect(self._on_nonfinite)
        window.data_view.datasetLoaded.connect(self._on_dataset_loaded)

    @Slot(int)
    def _on_layer_chosen(self, index: int) -> None:
        self._window.model_panel.select_layer(index)

    @Slot(object)
    def _on_probe_setting_changed(self, every: int | None) -> None:
        self._window.settings.qsettings.setValue(PROBE_SETTING,
                                                 "off" if every is None else int(every))

    @Slot()
    def _on_nonfinite(self) -> None:
        self._window.tabs.setCurrentWidget(self._inspector)

    @Slot(object)
    def _on_dataset_loaded(self, dataset: object) -> None:
        self._inspector.feature_view.set_dataset(dataset)


def remembered_probe_every(value: object) -> int | None:
    """The saved sampling interval: a whole number of steps, "off", or (missing or
    damaged) the default."""
    if value == "off":
        return None
    try:
        every = int(str(value))
    except ValueError:
        return DEFAULT_PROBE_EVERY
    return every if 1 <= every <= MAX_PROBE_EVERY else DEFAULT_PROBE_EVERY


def install_visual_debugging(window: MainWindow) -> VisualDebugging:
    """Add the Inspector and Evaluation tabs and File → Export to `window`."""
    inspector = InspectorPanel(window.session, window.redraw_clock)
    inspector.set_probe_every(remembered_probe_every(
        window.settings.qsettings.value(PROBE_SETTING)))
    evaluation = EvaluationPanel(window.session)
    window.add_tab(inspector, "Inspector", icon("inspect"))
    window.add_tab(evaluation, "Evaluation", icon("evaluate"))
    exporter = install_export_menu(window)
    _Wiring(window, inspector, evaluation)
    if window.data_view.dataset is not None:  # normally it loads after the first paint
        inspector.feature_view.set_dataset(window.data_view.dataset)
    installed = VisualDebugging(inspector, evaluation, exporter)
    window.inspector_panel = inspector
    window.evaluation_panel = evaluation
    window.exporter = exporter
    return installed

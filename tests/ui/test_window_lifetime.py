"""A closed window is freed when its last reference goes, by reference counting,
never later by Python's garbage collector (issue 11).

Freed by the collector, the window's Qt objects are torn down in the order the
collector happens to clear their Python wrappers: with a window closed while its
start-up load was under way that crashed the process (a segfault in QScreen::
virtualSiblings, reached from a QMenu's destructor inside gc.collect, in CI and in
a random-order run). The cycle was the window's own: three action owners (spec
files, checkpoint files, exporter) kept it in an attribute as their dialogs' parent.
"""

from __future__ import annotations

import gc
import inspect
import weakref

import pytest

from netexplorer.ui.main_window import MainWindow
from tests.ui.conftest import wait_for_data


def _holders(obj: object) -> list[str]:
    """What refers to obj, by owner type and attribute, so that a failure names the
    cycle instead of only saying there is one. (Plain loops: a comprehension naming
    obj, or a frame kept in a local, would itself hold obj in a cycle.)"""
    found = []
    for ref in gc.get_referrers(obj):
        if inspect.isframe(ref):
            continue
        if isinstance(ref, dict):
            owners = []
            for owner in gc.get_referrers(ref):
                if getattr(owner, "__dict__", None) is ref:
                    owners.append(type(owner).__qualname__)
            keys = []
            for key, value in ref.items():
                if value is obj:
                    keys.append(key)
            found.append(f"{owners or ['a dict']} {keys}")
        elif type(ref).__name__ == "cell":
            functions = []
            for closure in gc.get_referrers(ref):
                for function in gc.get_referrers(closure):
                    if getattr(function, "__closure__", None) is closure:
                        functions.append(function.__qualname__)
            found.append(f"a closure of {functions or 'an unknown function'}")
        else:
            found.append(type(ref).__qualname__)
    return found


def _close_and_drop(window: MainWindow) -> weakref.ref:
    ref = weakref.ref(window)
    window.close()
    return ref


@pytest.mark.parametrize("started", ["mid-start, never shown", "panels half built",
                                     "shown, data loaded"])
def test_a_closed_window_is_freed_by_reference_counting(qtbot, settings, started):
    assert not gc.isenabled()  # the GUI-thread collector has automatic collection off
    window = MainWindow(settings=settings)
    if started == "shown, data loaded":
        window.show()
        wait_for_data(qtbot, window)
    elif started == "panels half built":  # the builder of the late panels holds the window
        assert window._build_late_part() and window._build_late_part()
        assert window.tabs.widget(1).objectName() == "trainingPage"
    ref = _close_and_drop(window)
    holders = _holders(window)
    del window
    # No event is processed in between, so the collector's timer cannot have run.
    assert ref() is None, f"the closed window is held by a reference cycle: {holders}"


def test_windows_closed_one_after_another_mid_start(qtbot, settings):
    """The sequence that crashed: a first window, never shown, closed while its
    dataset loads; a second made on the same settings and closed at once; then a
    collection on the GUI thread."""
    first = MainWindow(settings=settings)
    first.first_run_hint.close_button.click()
    first_ref = _close_and_drop(first)
    del first
    second = MainWindow(settings=settings)
    assert not second.first_run_hint.isVisibleTo(second)  # the dismissal was kept
    second_ref = _close_and_drop(second)
    del second
    assert first_ref() is None and second_ref() is None
    gc.collect()  # what crashed when the windows were left to it
    qtbot.wait(50)

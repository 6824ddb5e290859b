"""Following a real run from the store (core/runs/follow.py): the probe's samples
come back as the ProbeReport the live run's inspector was given — statistics,
alerts and the distributions of its histogrammed steps — each exactly once,
however the reads fall between the writer's flushes."""

from __future__ import annotations

import numpy as np

from netexplorer.core.reports import EpochReport
from netexplorer.core.runs import RunStore
from netexplorer.core.runs.follow import FollowCursor, FollowUpdate, read_new
from tests.core.runs.runkit import live_histograms, tiny_run


def test_a_followed_run_brings_the_distributions_the_live_run_had(tmp_path, digits8):
    _, recorder, reports = tiny_run(tmp_path, digits8, probe_every=5, epochs=1)
    live = live_histograms(reports)
    with RunStore(tmp_path) as store:
        update = read_new(store, recorder.run_id, FollowCursor())
    assert update.probe is not None and update.probe.histograms is not None
    assert np.array_equal(update.probe.histograms.steps, live.steps)
    assert np.array_equal(update.probe.histograms.counts, live.counts)
    assert update.probe.histograms.counts.shape[2] == len(update.probe.layers)


def test_a_run_followed_while_it_trains_brings_each_histogram_once(tmp_path, digits8):
    """One read at the end of epoch 1 (the writer flushes there), one after the run:
    the second starts at the first's cursor and brings only the later histograms."""
    reads: list[FollowUpdate] = []
    with RunStore(tmp_path) as reader:
        def look(trainer, report):
            if isinstance(report, EpochReport) and report.epoch == 1:
                reads.append(read_new(reader, reader.list_runs()[0].id, FollowCursor()))

        _, recorder, reports = tiny_run(tmp_path, digits8, probe_every=3, epochs=2,
                                        on_report=look)
        [first] = reads
        second = read_new(reader, recorder.run_id, first.cursor)
    halves = [update.probe.histograms for update in (first, second)
              if update.probe is not None and update.probe.histograms is not None]
    assert len(halves) == 2
    assert halves[0].steps[-1] <= first.cursor.probe_step < halves[1].steps[0]
    live = live_histograms(reports)
    assert np.array_equal(np.concatenate([h.steps for h in halves]), live.steps)
    assert np.array_equal(np.concatenate([h.counts for h in halves]), live.counts)

"""RunRecorder: a training run recorded as it trains — metrics in the store,
last.ckpt and best.ckpt beside them, and TensorBoard event files that TensorBoard's
own reader (EventAccumulator) reads back."""

from __future__ import annotations

import os

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from netexplorer.core.checkpoints import load_checkpoint
from netexplorer.core.errors import StoreError
from netexplorer.core.reports import EpochReport, StepReport
from netexplorer.core.runs import COMPLETED, DIVERGED, FAILED, INTERRUPTED, STOPPED, RunStore
from netexplorer.core.runs.recorder import RunRecorder
from netexplorer.core.specs import build_model
from netexplorer.core.training import Trainer
from tests.core.runs.runkit import tiny_run
from tests.core.trainkit import TINY, assert_same_weights, config, epochs_of, steps_of

EVERYTHING = {"scalars": 0, "histograms": 0, "tensors": 0}  # keep every event


def read_events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance=EVERYTHING)
    events.Reload()
    return events


def scalars(events: EventAccumulator, tag: str) -> tuple[list[int], list[float]]:
    found = events.Scalars(tag)
    return [e.step for e in found], [e.value for e in found]


def test_tensorboard_reads_every_report_epoch_histogram_and_hyper_parameter(tmp_path, digits8):
    probed = []  # (step, {name: (min, max, numel) of the weights then})

    def note_weights(trainer, report):
        if isinstance(report, StepReport) and report.probe is not None and \
                len(report.probe.steps):
            probed.append((report.step, {
                name: (float(p.detach().min()), float(p.detach().max()), p.numel())
                for name, p in trainer.model.named_parameters()}))

    trainer, recorder, reports = tiny_run(
        tmp_path, digits8, probe_every=4, epochs=2, schedule="cosine", on_report=note_weights,
        start={"histogram_every": 0})
    events = read_events(recorder.folder)
    steps = trainer.position.step
    # every report's last batch loss, learning rate, running loss and speed (every
    # step's loss and rate are in the store)
    live = steps_of(reports)
    assert live[-1].step == steps
    at, losses = scalars(events, "loss/train_batch")
    assert at == [r.step for r in live]
    assert losses == pytest.approx([r.batch_loss for r in live], rel=1e-6)
    assert losses == pytest.approx([trainer.history["step_losses"][r.step - 1] for r in live],
                                   rel=1e-6)
    at, lrs = scalars(events, "learning_rate")
    assert at == [r.step for r in live]
    assert lrs == pytest.approx([trainer.history["step_lrs"][r.step - 1] for r in live],
                                rel=1e-6)
    at, running = scalars(events, "loss/train_running")
    assert at == [r.step for r in live]
    assert running == pytest.approx([r.running_loss for r in live], rel=1e-6)
    at, speed = scalars(events, "speed/images_per_second")
    assert at == [r.step for r in live] and all(s > 0 for s in speed)
    # every epoch
    epochs = epochs_of(reports)
    for tag, field in (("loss/train", "train_loss"), ("loss/test", "test_loss"),
                       ("accuracy/train", "train_accuracy"), ("accuracy/test", "test_accuracy")):
        at, values = scalars(events, tag)
        assert at == [e.step for e in epochs], tag
        assert values == pytest.approx([getattr(e, field) for e in epochs], rel=1e-6), tag
    # the weights and their gradients at every report carrying the probe's samples
    names = [name for name, _ in trainer.model.named_parameters()]
    assert set(events.Tags()["histograms"]) == {f"{kind}/{name}" for name in names
                                                for kind in ("weights", "gradients")}
    for name in names:
        weights = events.Histograms(f"weights/{name}")
        assert [h.step for h in weights] == [step for step, _ in probed]
        for event, (_, then) in zip(weights, probed):
            low, high, count = then[name]
            histogram = event.histogram_value
            assert (histogram.min, histogram.max, histogram.num) == pytest.approx(
                (low, high, count), rel=1e-6)
        gradients = events.Histograms(f"gradients/{name}")
        assert [h.step for h in gradients] == [step for step, _ in probed]
        assert all(h.histogram_value.num == then[name][2]
                   for h, (_, then) in zip(gradients, probed))
    # the hyper-parameters, with the final metrics
    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["lr"].number_value == pytest.approx(trainer.config.lr)
    assert start.hparams["batch_size"].number_value == trainer.config.batch_size
    assert start.hparams["optimizer"].string_value == trainer.config.optimizer
    assert start.hparams["schedule"].string_value == "cosine"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    assert {m.name.tag for m in experiment.metric_infos} == {"hparam/test_accuracy",
                                                            "hparam/epochs"}
    with RunStore(tmp_path) as store:
        accuracy = store.run(recorder.run_id).test_accuracy
    assert scalars(events, "hparam/test_accuracy")[1] == pytest.approx([accuracy])
    assert scalars(events, "hparam/epochs")[1] == [2.0]


def test_histograms_are_throttled_to_their_interval(tmp_path, digits8):
    """Sampled at every step, drawn at most once per histogram_every (here: a run far
    shorter than it, so exactly once)."""
    _, recorder, _ = tiny_run(tmp_path, digits8, probe_every=1, epochs=2,
                              start={"histogram_every": 3600})
    events = read_events(recorder.folder)
    assert [h.step for h in events.Histograms("weights/fc1.weight")] == [5]  # the first report


def saved_epochs(folder, seen: list):
    """on_report hook: after each epoch, how many epochs the run's last.ckpt holds."""
    def hook(trainer, report):
        if isinstance(report, EpochReport):
            with RunStore(folder) as store:
                run = store.list_runs()[0]
                seen.append(load_checkpoint(store.checkpoint_path(run.id)).epochs_done)
    return hook


def test_last_and_best_checkpoints(tmp_path, digits8):
    """last.ckpt is written at the first epoch, then on its clock (here: every
    epoch), and at the end with the weights the run ends with; best.ckpt holds the
    epoch with the best test accuracy."""
    seen: list[int] = []
    trainer, recorder, reports = tiny_run(tmp_path, digits8, epochs=4, lr=0.5,
                                          on_report=saved_epochs(tmp_path, seen),
                                          start={"checkpoint_every": 0})
    assert seen == [1, 2, 3, 4]
    last = load_checkpoint(recorder.folder / "last.ckpt")
    assert last.epochs_done == 4 and last.trainer_state["position"]["step"] == 4 * 23
    assert_same_weights(last.model_state, trainer.model)
    best = load_checkpoint(recorder.folder / "best.ckpt")
    accuracies = [e.test_accuracy for e in epochs_of(reports)]
    assert best.epochs_done == 1 + accuracies.index(max(accuracies))
    assert best.history["epochs"][-1]["test_accuracy"] == max(accuracies)
    with RunStore(tmp_path) as store:
        summary = store.run(recorder.run_id)
    assert summary.best_accuracy == max(accuracies)
    assert summary.test_accuracy == pytest.approx(accuracies[-1])
    assert recorder.problems == []
    assert not [p.name for p in recorder.folder.iterdir() if p.suffix == ".tmp"]


@pytest.mark.parametrize("lr", [0.1, 0.9])  # the best epoch the last one, or before it
def test_last_checkpoint_waits_for_its_interval_and_best_is_kept_meanwhile(lr, tmp_path,
                                                                           digits8):
    """Between checkpoints a best epoch is kept as a copy (training changes the
    weights after it); the last epoch's, if best, is written at the end from the
    trainer as it ends — as a second link to last.ckpt's file."""
    seen: list[int] = []
    trainer, recorder, reports = tiny_run(tmp_path, digits8, epochs=4, lr=lr,
                                          on_report=saved_epochs(tmp_path, seen),
                                          start={"checkpoint_every": 3600})
    assert seen == [1, 1, 1, 1]  # the first epoch's, until the run ends
    last = load_checkpoint(recorder.folder / "last.ckpt")
    assert last.epochs_done == 4
    accuracies = [e.test_accuracy for e in epochs_of(reports)]
    best_epoch = 1 + accuracies.index(max(accuracies))
    best = load_checkpoint(recorder.folder / "best.ckpt")
    assert best.epochs_done == best_epoch
    assert best.history["epochs"][-1]["test_accuracy"] == max(accuracies)
    assert os.path.samefile(recorder.folder / "best.ckpt",
                            recorder.folder / "last.ckpt") == (best_epoch == 4)
    if best_epoch == 4:
        assert_same_weights(best.model_state, trainer.model)


def test_a_stopped_run_keeps_where_it_stopped(tmp_path, digits8):
    def stop_mid_epoch(trainer, report):
        if isinstance(report, StepReport) and report.step == 33:  # epoch 2, batch 10
            trainer.control.stop()

    trainer, recorder, _ = tiny_run(tmp_path, digits8, epochs=3, on_report=stop_mid_epoch)
    with RunStore(tmp_path) as store:
        run = store.run(recorder.run_id)
        history = store.load_history(recorder.run_id)
    assert (run.status, run.steps, run.epochs) == (STOPPED, 33, 1)
    assert run.message == "stopped by request" and len(history.losses) == 33
    last = load_checkpoint(recorder.folder / "last.ckpt")
    assert last.trainer_state["position"] == {"epoch": 1, "batch": 10, "step": 33}
    assert_same_weights(last.model_state, trainer.model)


def test_a_diverged_run_keeps_its_last_finite_weights(tmp_path, digits8):
    trainer, recorder, _ = tiny_run(tmp_path, digits8, epochs=3, lr=50, schedule="none")
    with RunStore(tmp_path) as store:
        run = store.run(recorder.run_id)
    assert run.status == DIVERGED and "the loss became" in run.message
    last = load_checkpoint(recorder.folder / "last.ckpt")  # loads: every weight finite
    assert_same_weights(last.model_state, trainer.model)
    assert all(bool(torch.isfinite(v).all()) for v in last.model_state.values())
    assert recorder.problems == []


def test_failed_closed_and_finished_without_a_new_last_checkpoint(tmp_path, digits8):
    _, failed, _ = tiny_run(tmp_path, digits8, epochs=1, finish=False)
    failed.finish(None, failure="CUDA error: out of memory")
    trainer, closed, _ = tiny_run(tmp_path, digits8, epochs=1, finish=False)
    closed.close()  # the window closed mid-run
    trainer, kept, reports = tiny_run(tmp_path, digits8, epochs=2, finish=False,
                                      start={"checkpoint_every": 3600})
    kept.finish(reports[-1], save_last=False)  # as after a second Ctrl-C
    with RunStore(tmp_path) as store:
        assert (store.run(failed.run_id).status, store.run(failed.run_id).message) == (
            FAILED, "CUDA error: out of memory")
        assert store.run(closed.run_id).status == INTERRUPTED
        assert len(store.load_history(closed.run_id).losses) == 23  # flushed on close
        assert store.run(kept.run_id).status == COMPLETED
    assert load_checkpoint(kept.folder / "last.ckpt").epochs_done == 1  # not rewritten
    assert load_checkpoint(kept.folder / "best.ckpt").epochs_done in (1, 2)


def test_metrics_are_written_in_batches_and_at_every_epoch(tmp_path, digits8):
    """With a flush interval longer than the run, a reader sees nothing of an epoch
    until it ends, then all of it: one transaction per flush, never half a report."""
    seen = []
    with RunStore(tmp_path) as reader:
        def look(trainer, report):
            if isinstance(report, StepReport) and report.batch in (10, 23):
                run_id = reader.list_runs()[0].id
                seen.append((report.epoch, report.batch,
                             len(reader.load_history(run_id).losses)))

        tiny_run(tmp_path, digits8, epochs=2, on_report=look, start={"flush_every": 3600})
    # at batch 23 the report was taken, but its epoch's report (and flush) comes next
    assert seen == [(1, 10, 0), (1, 23, 0), (2, 10, 23), (2, 23, 23)]


def test_only_a_model_built_from_a_spec_is_recorded(tmp_path, digits8):
    trainer = Trainer(build_model(TINY), digits8, config())
    with pytest.raises(StoreError, match="built from a spec"):
        RunRecorder.start(tmp_path, trainer)
    assert RunStore(tmp_path).list_runs() == []


def test_the_recorder_passes_on_the_stores_notice(tmp_path, digits8):
    (tmp_path / "runs.sqlite").write_bytes(b"\x00" * 4096 + b"not sqlite")
    _, recorder, _ = tiny_run(tmp_path, digits8, epochs=1)
    assert recorder.notice is not None and "runs-1.sqlite beside it" in recorder.notice
    with RunStore(tmp_path) as store:
        assert store.db_path.name == "runs-1.sqlite"
        run = store.run(recorder.run_id)
    assert run.status == COMPLETED and run.test_accuracy is not None

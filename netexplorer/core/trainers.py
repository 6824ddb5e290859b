"""How a run's Trainer is made: the one recipe the GUI and the CLI share.

A run starts in one of two ways:

- new_trainer: fresh weights built from the spec with the config's seed (the
  same weights, data order and dropout masks whoever starts the run);
- resume_trainer: from a Checkpoint — a file read by load_checkpoint, or the
  point a run of this process stopped at (checkpoints.checkpoint_of) — whose
  weights, optimizer state, schedule position, data order and random generators
  carry on exactly. `netexplorer train --resume` and the GUI's next run of a
  trained model both come here, so a run continued in either gives the same
  numbers.

Either way the probe, when asked for, watches the trainer's own model, and the
trainer obeys the given TrainingControl (the GUI's pause, step and stop). Under
torchrun (`distributed`, core/distributed.py) every rank makes its Trainer here
the same way; only rank 0 gets the probe, every rank knows which steps it samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netexplorer.core.checkpoints import Checkpoint
from netexplorer.core.data import Dataset
from netexplorer.core.errors import CheckpointError, TrainingError
from netexplorer.core.specs import ModelSpec
from netexplorer.core.train_config import TrainConfig
from netexplorer.core.training import Trainer, TrainingControl

if TYPE_CHECKING:  # pragma: no cover
    from netexplorer.core.distributed import Cluster

__all__ = ["continued_config", "new_trainer", "resume_trainer"]


def new_trainer(spec: ModelSpec, dataset: Dataset, config: TrainConfig, *,
                probe_every: int | None = None,
                control: TrainingControl | None = None, distributed: Cluster | None = None,
                sync_batchnorm: bool = False) -> Trainer:
    """A run of fresh weights: the spec built after seeding with config.seed."""
    trainer = Trainer(spec, dataset, config, control=control, distributed=distributed,
                      sync_batchnorm=sync_batchnorm)
    _attach_probe(trainer, probe_every)
    return trainer


def resume_trainer(checkpoint: Checkpoint, dataset: Dataset, config: TrainConfig | None = None,
                   *, probe_every: int | None = None,
                   control: TrainingControl | None = None,
                   distributed: Cluster | None = None, sync_batchnorm: bool = False
                   ) -> Trainer:
    """A Trainer that continues the checkpoint's run on `dataset`.

    `config` (e.g. with more epochs, or another device) replaces the saved one; its
    `epochs` counts the whole run, resumed epochs included. The optimizer, schedule
    position, data order and RNG continue where they stopped. A checkpoint without
    training state (weights only) starts a fresh optimizer on its weights.
    """
    if checkpoint.classes and tuple(dataset.classes) != tuple(checkpoint.classes):
        shown = ", ".join(checkpoint.classes[:5]) + (", …" if len(checkpoint.classes) > 5
                                                      else "")
        raise TrainingError(f"the checkpoint was trained on {checkpoint.dataset_name} with "
                            f"{len(checkpoint.classes)} classes ({shown}); {dataset.name} has "
                            f"other classes")
    config = config or checkpoint.config or TrainConfig()
    trainer = Trainer(checkpoint.build_model(), dataset, config, spec=checkpoint.spec,
                      control=control, distributed=distributed,
                      sync_batchnorm=sync_batchnorm)
    if checkpoint.trainer_state is not None:
        try:
            trainer.load_state(checkpoint.trainer_state)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"cannot resume from this checkpoint: {exc}") from None
    _attach_probe(trainer, probe_every)
    return trainer


def continued_config(checkpoint: Checkpoint, config: TrainConfig) -> TrainConfig:
    """`config` for a run that trains `config.epochs` more epochs after the
    checkpoint's (the GUI's Epochs setting when it continues a model); the CLI's
    --epochs counts the whole run instead and is passed to resume_trainer as is."""
    return config.replace(epochs=checkpoint.epochs_done + config.epochs)


def _attach_probe(trainer: Trainer, every: int | None) -> None:
    if every and trainer.cluster is not None:
        trainer.probe_every = every
    if every and (trainer.cluster is None or trainer.cluster.leader):
        from netexplorer.core.inspection.probe import Probe

        trainer.probe = Probe(trainer.model, every=every)

"""Error types shared across the core, kept free of heavy imports.

The CLI catches these around every command; importing them must not pull in
torch, so that `netexplorer summary` stays quick.
"""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none): what
    a one-line report — a failed run's message, the CLI's error line — keeps of it."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


class DatasetError(ValueError):
    """A dataset that cannot be used as asked, in words a person can act on."""


class DatasetUnavailable(DatasetError):
    """The dataset's files are not there (or not readable) and cannot be fetched.

    When `downloadable`, the message says "Download it when online": the window
    shows it beside its Download button, the command line adds how to ask for it
    there (--download)."""

    def __init__(self, message: str, *, downloadable: bool = False) -> None:
        super().__init__(message)
        self.downloadable = downloadable


class DeviceError(ValueError):
    """A device that was asked for and cannot be used, said plainly."""


class TrainingError(ValueError):
    """A training request that cannot run: a bad setting, or a model and dataset
    that do not fit together (e.g. 5 outputs for 10 classes)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or used: truncated, corrupt, foreign or hostile."""


class StoreError(ValueError):
    """The run store cannot do what was asked: no such run, a run another process is
    writing, a folder that cannot be written, a damaged database."""

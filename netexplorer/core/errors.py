"""Error types shared across the core, kept free of heavy imports.

The CLI catches these around every command; importing them must not pull in
torch, so that `netexplorer summary` stays quick.
"""


class DatasetError(ValueError):
    """A dataset that cannot be used as asked, in words a person can act on."""


class DatasetUnavailable(DatasetError):
    """The dataset's files are not there (or not readable) and cannot be fetched."""

"""The command line: `netexplorer` (the GUI) and its headless commands.

main.py parses the arguments and turns every failure a person can fix into one
line; run.py drives the core's Trainer, evaluation and probe for them.
"""

from netexplorer.cli.main import EXIT_FAILED, EXIT_USAGE, CommandError, main

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "CommandError", "main"]

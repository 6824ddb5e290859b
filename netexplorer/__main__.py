"""python -m netexplorer — the same entry point as the console script."""

from netexplorer.cli import main

raise SystemExit(main())

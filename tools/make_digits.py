"""Remake resources/digits.npz, the shipped copy of scikit-learn's digits.

    .venv/bin/python tools/make_digits.py [--check]

The app reads the digits from that file (core/digits.py) so that the first look
at data needs neither scikit-learn nor torch; scikit-learn stays their source.
--check only compares the file with scikit-learn's digits (exit 1 if they differ).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from netexplorer.core import digits  # noqa: E402
from netexplorer.core.files import write_atomically  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare the shipped file with scikit-learn's digits")
    args = parser.parse_args()
    target = ROOT / "resources" / digits.RESOURCE
    source = digits.from_sklearn()
    if args.check:
        shipped = digits.read_digits()
        same = ((shipped.images == source.images).all()
                and (shipped.labels == source.labels).all())
        print(f"{target}: {'identical to' if same else 'DIFFERS from'} scikit-learn's digits")
        return 0 if same else 1
    contents = digits.to_bytes(source)
    write_atomically(target, lambda file: file.write(contents))
    print(f"wrote {target} ({target.stat().st_size:,} bytes) from scikit-learn's digits")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

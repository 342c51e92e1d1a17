"""The command line of a benchmark: its whole-number options (sizes, repeats) with their defaults."""
from __future__ import annotations

import argparse


def whole_number_options(doc: str, **defaults: int) -> argparse.Namespace:
    """Parse `--name N` for each default given (name_with_underscores -> --name-with-underscores); the help is the
    first line of the benchmark's docstring."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    return parser.parse_args()

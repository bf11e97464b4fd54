"""Turning user errors into one readable line and an exit code."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_PROBLEMS = (
    1  # the input was understood but is wrong (validation problems, failed expectations)
)
EXIT_USAGE = 2  # the command could not be carried out (bad name, missing file, duplicate)


def fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code

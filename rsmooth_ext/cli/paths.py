"""Output locations, checked before any work starts: a results file is never overwritten by accident."""

from __future__ import annotations

import os
import tempfile

from .errors import CliError


def check_writable(path: str, *, resume: bool) -> None:
    """``path``'s directory exists and is writable; an existing ``path`` only with ``resume``."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise CliError(f"output directory {directory} does not exist")
    check_directory_writable(directory)
    if os.path.exists(path) and not resume:
        raise CliError(f"{path} already exists; use --resume to continue it or choose another --out")


def check_directory_writable(directory: str) -> None:
    """Create and remove a probe file: os.access() says yes to root even where writing fails."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        raise CliError(f"output directory {directory} is not writable ({e.strerror})") from None

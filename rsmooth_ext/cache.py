"""The user cache directory (trained demo weights, computed radius tables): RSMOOTH_CACHE_DIR, else
$XDG_CACHE_HOME/rsmooth_ext, else ~/.cache/rsmooth_ext. Files are written atomically."""

from __future__ import annotations

import os
import tempfile


def cache_dir() -> str:
    root = os.environ.get("RSMOOTH_CACHE_DIR")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "rsmooth_ext")
    os.makedirs(root, exist_ok=True)
    return root


def atomic_write(path: str, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it into place, so a
    crash never leaves a partial file at ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise

"""Where nb2pipe keeps its caches: `$NB2PIPE_CACHE_DIR`, else `$XDG_CACHE_HOME/nb2pipe`,
else `~/.cache/nb2pipe`. Everything there can be deleted at any time; it only saves time."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    if os.environ.get("NB2PIPE_CACHE_DIR"):
        return Path(os.environ["NB2PIPE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nb2pipe"

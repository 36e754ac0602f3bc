"""The interaction log a run reads, and its pre-flight check: which file of a folder is
the log, and every row read once, streaming, before any component runs, so a malformed
row fails in seconds naming its file and line (InteractionsExampleGen, which reads it
again inside the pipeline, reports the same for a log only the cluster sees).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from aet.config import DomainConfig
from aet.config.contract import LOG_SUFFIXES
from aet.kinds.interactions.histories import InteractionLogError, read_interactions


def one_log(names: Iterable[str], where: str) -> str:
    """The one interaction log among the files `names` (a folder's, or what a pattern
    matched at `where`); ValueError naming what was found otherwise."""
    logs = sorted(name for name in names if name.endswith(LOG_SUFFIXES))
    if len(logs) == 1:
        return logs[0]
    found = f"{len(logs)} ({', '.join(os.path.basename(n) for n in logs)})" if logs else "none"
    raise ValueError(
        f"{where}: a folder of interactions holds one {'/'.join(LOG_SUFFIXES)} log; found {found}"
    )


def log_file(path: Path) -> Path:
    """The interaction log at `path`: the file itself, or the one log a folder holds (a
    span folder, `span-01/`); ValueError naming what is wrong otherwise."""
    if path.is_file() and path.suffix in LOG_SUFFIXES:
        return path
    if path.is_dir():
        return Path(one_log((os.fspath(p) for p in path.iterdir() if p.is_file()), str(path)))
    raise ValueError(
        f"{path}: not an interaction log; give one {'/'.join(LOG_SUFFIXES)} file "
        "with the columns named in data.columns"
    )


def check_log(config: DomainConfig, path: Path) -> tuple[Path, int]:
    """The log at `path` and its number of interactions, every row read and checked
    (InteractionLogError naming the file, line and field of the first bad one)."""
    log = log_file(path)
    rows = sum(1 for _ in read_interactions(os.fspath(log), config.data.columns))
    if not rows:
        raise InteractionLogError(f"{log}: the interaction log has no rows")
    return log, rows

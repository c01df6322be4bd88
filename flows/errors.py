"""Errors the job raises on purpose; each says what is wrong, where, and how to fix it."""

from __future__ import annotations

import errno
import re
import shutil
from pathlib import Path


class OffersError(Exception):
    """Base class: a problem the operator can fix. The CLI prints it without a traceback."""

    exit_code = 1


class ConfigError(OffersError):
    """The configuration (offers.toml, OFFERS_* variables, flags) is invalid."""

    exit_code = 2


class UsageError(OffersError):
    """A command was given something it cannot act on (an unknown or ambiguous model version,
    a promotion the gate refused without ``--force``)."""

    exit_code = 2


class SourceError(OffersError):
    """A source file is structurally unusable; nothing from this run is stored."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.column = column
        self.row = row
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class DataQualityError(OffersError):
    """A table the job built failed a data test; the run stops before publishing."""

    exit_code = 4


class TrainingError(OffersError):
    """The model could not be trained into something usable (e.g. NaN factors, no data)."""

    exit_code = 5


class BusyError(OffersError):
    """Another run holds the home folder's lock."""

    exit_code = 6


class OrchestrationError(OffersError):
    """The Prefect API (``PREFECT_API_URL``) could not be reached or answered with an error;
    the message names the URL and what to do."""

    exit_code = 7


PrefectError = OrchestrationError  # the same class, by the orchestrator's name


class PublishCheckError(OffersError):
    """Tonight's lists failed a publish check against the previous night (models/
    publish_checks.py); nothing was published, the previous export stays."""

    exit_code = 8


class DiskFullError(OffersError):
    """A write failed for lack of space (ENOSPC, EFBIG, EDQUOT); the last good export and
    the database are as they were (every write is staged, then committed or swapped)."""

    exit_code = 9


_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_NO_SPACE_TEXT = re.compile(
    r"No space left on device|File too large|Disk quota exceeded|os error (28|27|122)"
)
_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*:/+)(?P<user>[^:/@\s]+):[^@/\s]+@", re.I)


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` replaced by ***."""
    return _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)


def disk_full(exc: BaseException, home: Path) -> DiskFullError | None:
    """A :class:`DiskFullError` for an out-of-space failure (from the OS, DuckDB or polars),
    naming the path, the free space and about what a night needs; None for anything else."""
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        path = exc.filename or home
    elif _NO_SPACE_TEXT.search(str(exc)):
        path = home
    else:
        return None
    where = Path(path)
    probe = next((p for p in (where, *where.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(probe).free / 2**20
    needed = (
        sum(
            f.stat().st_size
            for part in ("offers.duckdb", "exports/latest/")
            for f in ([home / part] if not part.endswith("/") else (home / part).rglob("*"))
            if f.is_file()
        )
        / 2**20
    )
    return DiskFullError(
        f"no space left writing {where} ({free:,.0f} MB free on its device; a night needs "
        f"about {needed:,.0f} MB more: the database grows and a new export is staged beside "
        "the last); free space and re-run: the last good export and the database are unchanged"
    )

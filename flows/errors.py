"""Errors the job raises on purpose; each says what is wrong, where, and how to fix it."""

from __future__ import annotations

from pathlib import Path


class OffersError(Exception):
    """Base class: a problem the operator can fix. The CLI prints it without a traceback."""

    exit_code = 1


class ConfigError(OffersError):
    """The configuration (offers.toml, OFFERS_* variables, flags) is invalid."""

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

"""One settings object, built at the entry point and passed down (its sections: config_sections).

Precedence, highest first: explicit arguments (CLI flags), environment variables
(``OFFERS_...``, nested with ``__``, e.g. ``OFFERS_ALS__FACTORS=128``), the home folder's
``offers.toml``, then the defaults below.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from flows.config_sections import (
    ALSSettings,
    BPRSettings,
    ExtractSettings,
    GateSettings,
    HybridSettings,
    InteractionSettings,
    ItemKNNSettings,
    ModelKind,
    OfferSettings,
    PostgresSettings,
    PublishSettings,
    RepurchaseSettings,
    RetentionSettings,
    ScaleSettings,
    SegmentSettings,
    is_source_url,
)
from flows.errors import ConfigError, redact

__all__ = [
    "CONFIG_FILE",
    "PostgresSettings",
    "SegmentSettings",
    "Settings",
    "is_source_url",
    "load_settings",
]

CONFIG_FILE = "offers.toml"


class Settings(BaseSettings):
    """Everything a run needs. ``home`` holds all state: config, database, models, exports."""

    model_config = SettingsConfigDict(
        env_prefix="OFFERS_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path("offers-home")
    source_dir: Path | None = Field(
        None, description="folder with the shop's source files; default <home>/source"
    )
    source_url: str | None = Field(
        None,
        description="postgresql://user:password@host:port/db to read the source from instead "
        "(given as --source / OFFERS_SOURCE_DIR); never printed or stored with its password",
        repr=False,
    )

    @model_validator(mode="before")
    @classmethod
    def _source_url(cls, data: Any) -> Any:
        """A source given with a ``postgresql://`` scheme is a URL, not a folder."""
        if isinstance(data, dict) and is_source_url(data.get("source_dir")):
            data = {**data, "source_url": data["source_dir"], "source_dir": None}
        return data

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        """Folders are made absolute where the settings are built: the registry stores model
        paths, and a later run may start from another working directory."""
        self.home = self.home.expanduser().resolve()
        if self.source_dir is not None:
            self.source_dir = self.source_dir.expanduser().resolve()
        if self.source_url is not None and not is_source_url(self.source_url):
            raise ValueError("source_url must start with postgresql:// or postgres://")
        return self

    seed: int = 42
    file_access: Literal["owner", "group", "all"] = Field(
        "owner",
        description="who may read what a run writes (database, models, exports): the owner "
        "only (umask 077), also the group (027, e.g. a shop reading serving.duckdb), or all (022)",
    )
    duckdb_memory_limit: str | None = Field(
        "2GB",
        description="DuckDB spills to disk beyond it (None: DuckDB's own default, 80% of RAM); "
        "at 1M customers extract peaks at 9.7 GB without a limit, 1.9-3.3 GB with 1.5-3 GB",
    )
    duckdb_threads: int | None = Field(None, gt=0, description="default: all cores")
    interactions: InteractionSettings = InteractionSettings()
    repurchase: RepurchaseSettings = RepurchaseSettings()
    hybrid: HybridSettings = HybridSettings()
    model: ModelKind = Field("als", description="the model the nightly job trains")
    als: ALSSettings = ALSSettings()
    bpr: BPRSettings = BPRSettings()
    item_knn: ItemKNNSettings = ItemKNNSettings()
    offers: OfferSettings = OfferSettings()
    segments: SegmentSettings = SegmentSettings()
    gate: GateSettings = GateSettings()
    retention: RetentionSettings = RetentionSettings()
    publish: PublishSettings = PublishSettings()
    postgres: PostgresSettings = PostgresSettings()
    extract: ExtractSettings = ExtractSettings()
    scale: ScaleSettings = ScaleSettings()

    @property
    def source_label(self) -> str:
        """Where the source is read from, as a message may show it (no password)."""
        return redact(self.source_url) if self.source_url else str(self.source)

    @property
    def source(self) -> Path:
        return self.source_dir if self.source_dir is not None else self.home / "source"

    @property
    def database(self) -> Path:
        return self.home / "offers.duckdb"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    def config_hash(self) -> str:
        """Hash of every setting that changes the offers (not where files live)."""
        payload = self.model_dump(
            mode="json",
            exclude={
                "home",
                "source_dir",
                "source_url",
                "postgres",
                "extract",
                "scale",
                "duckdb_memory_limit",
                "duckdb_threads",
                "publish",
                "retention",
                "file_access",
            },
        )
        blob = json.dumps(payload, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_settings(home: Path | None = None, **overrides: Any) -> Settings:
    """Settings for ``home`` (or ``OFFERS_HOME``), reading ``<home>/offers.toml`` if present."""
    if home is None:
        home = Path(os.environ.get("OFFERS_HOME", Settings.model_fields["home"].default))
    # absolute: the registry stores model paths, and a later run may start elsewhere
    home = Path(home).expanduser().resolve()
    toml_path = home / CONFIG_FILE

    class _HomeSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
            )

    values = {k: v for k, v in overrides.items() if v is not None}
    try:
        built = _HomeSettings(home=home, **values)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{toml_path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = redact(
            "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
                for err in exc.errors()
            )
        )
        raise ConfigError(
            f"invalid configuration ({problems}); check {toml_path}, OFFERS_* environment "
            "variables and command-line flags"
        ) from exc
    return Settings.model_validate(built.model_dump())

"""The sections of the settings (``[als]``, ``[offers]``, ``[gate]`` ...): one pydantic model
each, strict (an unknown key is an error). ``flows.config`` puts them together."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models import reasons
from models.segments import SegmentRules


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in offers.toml must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class EventWeights(_Strict):
    """Credit one event of each type gives a customer-product pair (before time decay)."""

    view: float = Field(1.0, ge=0)
    add_to_cart: float = Field(4.0, ge=0)
    purchase: float = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> EventWeights:
        if not self.purchase >= self.add_to_cart >= self.view:
            raise ValueError("event weights must satisfy purchase >= add_to_cart >= view")
        return self


class InteractionSettings(_Strict):
    """How history becomes implicit feedback."""

    weights: EventWeights = EventWeights()
    half_life_days: float = Field(30.0, gt=0, description="credit halves every this many days")
    lookback_days: int = Field(365, gt=0, description="history older than this is ignored")
    popularity_days: int = Field(
        28, gt=0, description="window of the popularity fallback (recent popularity is stronger)"
    )


class ALSSettings(_Strict):
    """Parameters of implicit's AlternatingLeastSquares."""

    factors: int = Field(64, gt=0)
    regularization: float = Field(0.05, ge=0)
    alpha: float = Field(2.0, gt=0, description="confidence = 1 + alpha * weight")
    iterations: int = Field(15, gt=0)
    full_retrain_days: int = Field(
        0,
        ge=0,
        description="0: train from scratch every night; N: refresh the ALS model in charge "
        "(changed customers, new products) until it descends from a full retrain N days old",
    )
    device: Literal["cpu", "gpu"] = Field(
        "cpu",
        description="where full ALS trainings run: gpu uses implicit's CUDA backend where it "
        "sees a device (needs the rmm-cu13 package), else falls back to the cpu with a warning",
    )

    def model_params(self) -> dict[str, Any]:
        """The parameters of the model itself (scheduling and device settings left out)."""
        return self.model_dump(exclude={"full_retrain_days", "device"})


class BPRSettings(_Strict):
    """Parameters of implicit's BayesianPersonalizedRanking (trained on one thread)."""

    factors: int = Field(64, gt=0)
    learning_rate: float = Field(0.05, gt=0)
    regularization: float = Field(0.01, ge=0)
    iterations: int = Field(100, gt=0)


class ItemKNNSettings(_Strict):
    """Item-item nearest neighbours (cosine or BM25 weighting)."""

    neighbours: int = Field(50, gt=0)
    k1: float = Field(1.2, gt=0, description="BM25 only")
    b: float = Field(0.75, ge=0, le=1, description="BM25 only")


ModelKind = Literal["als", "bpr", "item_cosine", "item_bm25"]


class RepurchaseSettings(_Strict):
    """Buying again (models/repurchase.py): when a bought product may be offered again."""

    learned: bool = Field(
        True, description="learn repurchase probability and interval per product from history"
    )
    min_probability: float = Field(
        0.15, ge=0, le=1, description="products bought again less often are never re-offered"
    )
    shrinkage: float = Field(
        10.0, ge=0, description="pseudo-buyers pulling a product's estimate to its category's"
    )
    half_life_days: float = Field(
        60.0, gt=0, description="decay of the buy-again score's purchase frequency"
    )


class HybridSettings(_Strict):
    """The hybrid candidate (models/hybrid.py): buy-again and the configured model, fused per
    customer by their repurchase propensity."""

    repeat_weight: float = Field(
        4.0, ge=0, description="scales a customer's repeat share into their repeat slots"
    )
    min_repeat: int = Field(0, ge=0, le=100, description="slots kept for buy-again items")
    min_explore: int = Field(2, ge=0, le=100, description="slots kept for new products")


class OfferSettings(_Strict):
    """List lengths and variety per channel."""

    shop_k: int = Field(20, gt=0, le=500)
    email_k: int = Field(5, gt=0, le=100)
    shop_per_category: int | None = Field(
        5, gt=0, description="most products of one category in a shop list (None: no cap)"
    )
    email_per_category: int | None = Field(
        2, gt=0, description="most products of one category in an email (None: no cap)"
    )
    pool_factor: int = Field(
        3, ge=1, le=20, description="candidates ranked per list slot before the caps apply"
    )
    goes_with: int = Field(
        10, ge=0, le=100, description="products per 'goes with' list for product pages (0: none)"
    )
    goes_with_min_support: int = Field(
        3, ge=1, description="orders a pair must share to be listed as going together"
    )
    email_repeat_days: int = Field(
        14,
        ge=0,
        description="a product e-mailed to a customer is not e-mailed again within "
        "this many days (0: no rule); the shop list may repeat",
    )
    new_slots_shop: int = Field(
        2,
        ge=0,
        le=50,
        description="shop list slots for new products (no interactions yet); at most shop_k - 1",
    )
    new_slots_email: int = Field(
        0, ge=0, le=20, description="email slots for new products (no interactions yet)"
    )
    reasons: dict[str, str] = Field(
        default_factory=dict,
        description="reason texts by code, overriding the defaults (models/reasons.py); "
        "placeholders {product}, {anchor}, {category}",
    )

    @model_validator(mode="after")
    def _email_within_shop(self) -> OfferSettings:
        if self.email_k > self.shop_k:
            raise ValueError("offers.email_k must not exceed offers.shop_k")
        problems = reasons.template_problems(self.reasons)
        if problems:
            raise ValueError("offers.reasons: " + "; ".join(problems))
        return self


class SegmentSettings(_Strict):
    """Customer segments and channel eligibility (models/segments.py; days are whole calendar
    days before the as-of date)."""

    new_days: int = Field(
        30, ge=0, description="first order (or signup, never ordered) at most this long ago: new"
    )
    active_days: int = Field(60, ge=0, description="last order at most this long ago: active")
    lapsing_days: int = Field(
        180, ge=0, description="last order within (active_days, lapsing_days]: lapsing; older: lost"
    )
    vip_share: float = Field(
        0.05, ge=0, le=1, description="share of the active customers, by revenue_365, who are VIP"
    )
    vip_min_orders: int = Field(3, ge=0, description="orders in 365 days a VIP needs at least")
    email_min_days_since_visit: int = Field(
        0, ge=0, description="email only customers not seen for this many days (0: no rule)"
    )
    winback_k: int = Field(
        5, ge=0, le=100, description="products in the lapsing customers' win-back email (0: none)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> SegmentSettings:
        if self.active_days > self.lapsing_days:
            raise ValueError("segments.active_days must not exceed segments.lapsing_days")
        return self

    def rules(self) -> SegmentRules:
        """The thresholds models.segments applies."""
        return SegmentRules(
            new_days=self.new_days,
            active_days=self.active_days,
            lapsing_days=self.lapsing_days,
            vip_share=self.vip_share,
            vip_min_orders=self.vip_min_orders,
        )


BaselineKind = Literal["popular", "popular_all_time", "popular_category", "buy_again"]


class GateSettings(_Strict):
    """The nightly promotion gate (see models/gate.py and docs/architecture.md)."""

    enabled: bool = True
    holdout_days: int = Field(14, gt=0, description="length of each judged window, in days")
    windows: int = Field(
        3, ge=1, le=12, description="consecutive windows judged after one training cut"
    )
    metric: Literal["precision", "recall", "map", "ndcg", "hit_rate"] = "ndcg"
    k: int = Field(10, gt=0, description="shop list length the metric is taken at")
    margin: float = Field(
        0.05, ge=0, description="relative lift over the incumbent a challenger needs"
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="significance level of the paired bootstrap test"
    )
    bootstrap: int = Field(1000, ge=100, le=100_000, description="bootstrap replicates")
    baselines: tuple[BaselineKind, ...] = Field(
        ("popular", "popular_all_time", "popular_category", "buy_again"), min_length=1
    )
    alternatives: tuple[Literal["als", "bpr", "item_cosine", "item_bm25", "hybrid"], ...] = Field(
        ("item_cosine", "item_bm25", "hybrid"),
        description="cheap model kinds judged besides the configured model every night",
    )
    min_customers: int = Field(
        100, ge=1, description="fewer judged customers than this: too little evidence to change"
    )
    warm_iterations: int = Field(
        5,
        ge=0,
        description="the gate's ALS starts from the current ALS model's judge copy (same "
        "parameters) and runs this many iterations; 0: always train from scratch",
    )
    max_customers: int = Field(
        10_000, ge=1, description="judged customers sampled per night (bounds the gate's cost)"
    )


class PublishSettings(_Strict):
    """Checks on tonight's lists against the previous published night before they are
    published (models/publish_checks.py); a failed check stops the run unless forced."""

    max_customer_drop: float = Field(
        0.5, ge=0, le=1, description="refuse when customers with a shop list fell by more"
    )
    max_drift: float = Field(
        0.95,
        ge=0,
        le=1,
        description="refuse when more of the shop offers to customers listed both nights are "
        "new (lists rotate every night; only a near-total change is refused)",
    )


class RetentionSettings(_Strict):
    """What old state is deleted after a run publishes (models/retention.py, flows/retention.py);
    0 keeps all of that kind."""

    keep_exports: int = Field(
        7, ge=0, description="export run folders kept, newest as-of dates first (latest always)"
    )
    keep_models: int = Field(
        5, ge=0, description="stored model versions kept, newest first (in charge, pinned always)"
    )
    runs_days: int = Field(365, ge=0, description="runs rows kept this many days after they ran")
    quarantine_days: int = Field(90, ge=0, description="quarantine rows kept this many days")
    offers_days: int = Field(
        14,
        ge=0,
        description="offers, goes_with and sent_offers rows kept this many days before the newest "
        "published date (a backfill re-runs an older one); at least offers.email_repeat_days",
    )


class ExtractSettings(_Strict):
    """Reading the source folder (flows/extract.py, flows/sourcefiles.py)."""

    incremental: bool = Field(
        True,
        description="read only files that are new or changed since the last load (false, or "
        "`offers run --full-extract`: read every file)",
    )


class ScaleSettings(_Strict):
    """Where the offer stage scores and re-ranks customers (flows/scaling.py, docs/scaling.md):
    in this process (default), or sharded by customer on Dask workers. Lists are the same."""

    engine: Literal["local", "dask"] = Field(
        "local", description="local: this process; dask: shards of customers on Dask workers"
    )
    dask_address: str | None = Field(
        None, description="an existing Dask scheduler, e.g. tcp://scheduler:8786"
    )
    dask_workers: int | None = Field(
        None,
        gt=0,
        description="without dask_address: a local cluster of this many worker processes, "
        "started for the run and closed afterwards (default: one per core)",
    )
    shard_customers: int | None = Field(
        None, gt=0, description="customers per shard (default: the offer chunk, 25,000)"
    )
    offer_threads: int = Field(
        2,
        gt=0,
        description="engine local: chunks of customers whose lists are made at once, each on "
        "its own thread (each holds its candidate pools: about 0.5 GB per 25,000 customers at "
        "1M); 1: one after another",
    )

    @model_validator(mode="after")
    def _one_cluster(self) -> ScaleSettings:
        if self.dask_address is not None and self.dask_workers is not None:
            raise ValueError("scale: give dask_address or dask_workers, not both")
        return self


_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
SOURCE_SCHEMES = ("postgresql://", "postgres://")


class PostgresSettings(_Strict):
    """Reading the source entities from PostgreSQL (``--source postgresql://...``,
    flows/pgsource.py): a table per entity, read incrementally by a watermark column."""

    schema_name: str = Field("public", description="schema holding the source tables")
    tables: dict[str, str] = Field(
        default_factory=dict, description="table per entity (default: the entity's name)"
    )
    watermarks: dict[str, str] = Field(
        default_factory=dict,
        description="timestamp column per entity that grows when a row is written "
        "(default: updated_at); rows above the last stored value are read",
    )

    @model_validator(mode="after")
    def _names(self) -> PostgresSettings:
        from flows.contract import BY_NAME

        for what, names in (("tables", self.tables), ("watermarks", self.watermarks)):
            unknown = sorted(set(names) - set(BY_NAME))
            if unknown:
                raise ValueError(f"postgres.{what}: unknown entities {unknown}")
            for name in names.values():
                if not _IDENT.match(name):
                    raise ValueError(f"postgres.{what}: {name!r} is not a lower-case identifier")
        if not _IDENT.match(self.schema_name):
            raise ValueError(f"postgres.schema_name: {self.schema_name!r} is not an identifier")
        return self

    def table(self, entity: str) -> str:
        return self.tables.get(entity, entity)

    def watermark(self, entity: str) -> str:
        return self.watermarks.get(entity, "updated_at")


def is_source_url(value: object) -> bool:
    """Whether a --source / OFFERS_SOURCE_DIR value is a PostgreSQL URL, not a folder."""
    return isinstance(value, str) and value.lower().startswith(SOURCE_SCHEMES)

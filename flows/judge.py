"""The gate's evidence, gathered from the database: every candidate on the same windows tonight.

For as-of date D, ``gate.windows`` consecutive windows of ``gate.holdout_days`` end at D; the
cut is the start of the first. Every candidate is trained once, at the cut, on history before
it (stock and the active flag are not applied: they have no history), makes its lists once,
and is judged on each window's purchases by the customers it served at the cut. The current
model is not retrained: its stored *judge copy* (the factors the gate trained when it was
promoted, at that night's cut) is translated onto tonight's id maps and re-scored, so it is
exactly as stale as it would be if kept in charge. The policy itself lives in ``models.gate``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import polars as pl

from flows import channels, sqlfiles, stages
from flows.config import Settings
from flows.progress import stage_progress
from models import columns as C
from models import gate
from models.candidates import ModelSpec
from models.metrics import per_customer_metrics
from models.recommender import (
    Fitted,
    StoredModel,
    can_warm_start,
    fit_prepared,
    prepare,
    reuse,
)


@dataclass(frozen=True)
class GateData:
    """Training inputs before the cut and the judged purchases of each window after it."""

    cut: dt.date
    bounds: tuple[tuple[dt.date, dt.date], ...]
    history: stages.History
    prepared: Fitted
    truths: tuple[pl.DataFrame, ...]  # (customer_id, product_id) per window, judged sample
    users: np.ndarray  # indices (in ``prepared``) of the judged customers, sorted by id
    pair_customer: np.ndarray
    pair_window: np.ndarray

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f"{a}..{b - dt.timedelta(days=1)}" for a, b in self.bounds)


def window_bounds(as_of: dt.date, days: int, count: int) -> tuple[tuple[dt.date, dt.date], ...]:
    """``count`` consecutive ``[start, end)`` windows of ``days`` days ending at ``as_of``."""
    first = as_of - dt.timedelta(days=days * count)
    return tuple(
        (first + dt.timedelta(days=days * i), first + dt.timedelta(days=days * (i + 1)))
        for i in range(count)
    )


def _sample(customers: pl.Series, limit: int, seed: int) -> pl.Series:
    """At most ``limit`` customers, chosen by a seeded hash of their id (same every run)."""
    if customers.len() <= limit:
        return customers.sort()
    keyed = pl.DataFrame({C.CUSTOMER: customers}).with_columns(h=pl.col(C.CUSTOMER).hash(seed=seed))
    return keyed.sort("h", C.CUSTOMER).head(limit).get_column(C.CUSTOMER).sort()


def gate_data(con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date) -> GateData:
    """History before the cut and each window's purchases by customers served at the cut."""
    g = settings.gate
    bounds = window_bounds(as_of, g.holdout_days, g.windows)
    cut = bounds[0][0]
    history = stages.read_history(con, cut, settings, use_stock=False)
    served = history.inputs.customers.select(C.CUSTOMER)
    truths = []
    for start, end in bounds:
        window = {"as_of": stages.as_of_timestamp(start), "until": stages.as_of_timestamp(end)}
        rel = sqlfiles.run(con, "marts/holdout_purchases", window)
        assert rel is not None
        truths.append(rel.pl().join(served, on=C.CUSTOMER, how="semi"))
    everyone = pl.concat([t.get_column(C.CUSTOMER) for t in truths]).unique()
    judged = _sample(everyone, g.max_customers, settings.seed)
    truths = [t.filter(pl.col(C.CUSTOMER).is_in(judged.implode())) for t in truths]
    prepared = prepare(history.inputs)
    codes = pl.DataFrame({C.CUSTOMER: judged}).with_row_index("code")
    pair_customer, pair_window = [], []
    for w, truth in enumerate(truths):
        ids = truth.get_column(C.CUSTOMER).unique().sort()
        pair_customer.append(
            pl.DataFrame({C.CUSTOMER: ids}).join(codes, on=C.CUSTOMER).get_column("code")
        )
        pair_window.append(np.full(ids.len(), w, dtype=np.int32))
    return GateData(
        cut=cut,
        bounds=bounds,
        history=history,
        prepared=prepared,
        truths=tuple(truths),
        users=np.sort(prepared.users.positions(judged)),
        pair_customer=(
            pl.concat(pair_customer).to_numpy().astype(np.int64)
            if pair_customer
            else np.empty(0, np.int64)
        ),
        pair_window=np.concatenate(pair_window) if pair_window else np.empty(0, np.int32),
    )


def pair_scores(data: GateData, fitted: Fitted, settings: Settings) -> np.ndarray:
    """The candidate's ``metric``@``k`` for every judged (customer, window) pair, in order,
    on its shop list as published (the category cap applied to its candidate pool)."""
    metric, k = settings.gate.metric, settings.gate.k
    lists = channels.judged_shop_lists(
        fitted, data.history.inputs.products, settings, data.users, k
    )
    values = [
        per_customer_metrics(lists, truth, k).get_column(metric).to_numpy() for truth in data.truths
    ]
    return np.concatenate(values) if values else np.empty(0)


@dataclass(frozen=True)
class Judged:
    """The evidence, and tonight's trained candidates (reused when one takes charge)."""

    evidence: gate.Evidence
    trained: dict[str, Fitted]
    seconds: dict[str, float]
    warm_started: tuple[str, ...] = ()  # candidates trained from the current model's factors


def candidates(settings: Settings, new: ModelSpec) -> list[tuple[str, str, ModelSpec]]:
    """(label, role, spec): the new model, alternative kinds, then baselines (tie order)."""
    out = [(new.kind, gate.NEW, new)]
    for kind in settings.gate.alternatives:
        if kind != new.kind:
            out.append((kind, gate.ALTERNATIVE, stages.spec_for(settings, kind)))
    out += [(kind, gate.BASELINE_ROLE, ModelSpec(kind)) for kind in settings.gate.baselines]
    return out


def judge(
    data: GateData,
    settings: Settings,
    new: ModelSpec,
    current: tuple[str, StoredModel] | None,
) -> Judged:
    """Train every candidate at the cut, re-score the current model, score all on all pairs.

    ``current`` is (label, stored judge copy) of the model in charge, when it can be judged.
    """
    g = settings.gate
    scores: dict[str, np.ndarray] = {}
    roles: dict[str, str] = {}
    kinds: dict[str, str] = {}
    trained: dict[str, Fitted] = {}
    seconds: dict[str, float] = {}
    plan: list[tuple[str, str, Any]] = candidates(settings, new)
    if current is not None:
        plan.insert(0, (current[0], gate.CURRENT, current[1]))
    kept: Fitted | None = None
    warm: list[str] = []
    with stage_progress(f"gate: {len(plan)} candidates", len(plan)) as advance:
        for label, role, what in plan:
            t0 = time.perf_counter()
            if isinstance(what, StoredModel):
                fitted = kept = reuse(data.prepared, what)
            else:
                start = kept if role == gate.NEW and g.warm_iterations else None
                if start is not None and start.spec and can_warm_start(start.spec, what):
                    warm.append(label)
                explore = trained.get(new.kind) if what.kind == "hybrid" else None
                fitted = _fit_candidate(data, settings, what, start, explore)
                trained[label] = fitted
            scores[label] = pair_scores(data, fitted, settings)
            roles[label] = role
            kinds[label] = fitted.spec.kind if fitted.spec is not None else label
            seconds[label] = round(time.perf_counter() - t0, 3)
            done = "re-scored" if role == gate.CURRENT else "trained and scored"
            advance(note=f"gate: {label} ({role}) {done} in {seconds[label]:.1f} s")
    evidence = gate.Evidence(
        metric=f"{g.metric}@{g.k}",
        windows=data.labels,
        pair_customer=data.pair_customer,
        pair_window=data.pair_window,
        scores=scores,
        roles=roles,
        kinds=kinds,
    )
    return Judged(evidence=evidence, trained=trained, seconds=seconds, warm_started=tuple(warm))


def _fit_candidate(
    data: GateData, settings: Settings, spec: ModelSpec, start: Fitted | None, explore: Any
) -> Fitted:
    """One candidate trained at the cut (warm-started from ``start`` when it can be; a hybrid
    explores with ``explore``, tonight's already trained model), under an iterations bar."""
    g = settings.gate
    iterations = spec.full_params.get("iterations")
    if start is not None and start.spec is not None and can_warm_start(start.spec, spec):
        iterations = g.warm_iterations
    with stage_progress(f"gate: training {spec.kind}", iterations) as step:
        return fit_prepared(
            data.prepared,
            spec,
            seed=settings.seed,
            warm_from=start,
            warm_iterations=g.warm_iterations,
            inner=explore.model if explore is not None else None,  # shared, not retrained
            progress=step,
        )


def verdict(
    data: GateData,
    settings: Settings,
    new: ModelSpec,
    current: tuple[str, StoredModel] | None = None,
    *,
    incumbent: str | None = None,
    current_version: str | None = None,
) -> tuple[gate.GateDecision, Judged | None]:
    """Judge everything and decide; with no history before the cut, fail closed."""
    if data.prepared.user_items.nnz == 0:
        why = f"no history before the gate's cut {data.cut}"
        return gate.no_evidence(why, current_version, settings.gate.baselines[0]), None
    judged = judge(data, settings, new, current)
    decision = gate.decide(
        judged.evidence, policy(settings), incumbent=incumbent, current_version=current_version
    )
    return decision, judged


def policy(settings: Settings) -> gate.Policy:
    g = settings.gate
    return gate.Policy(
        margin=g.margin,
        alpha=g.alpha,
        min_customers=g.min_customers,
        replicates=g.bootstrap,
        seed=settings.seed,
    )

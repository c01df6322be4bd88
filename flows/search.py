"""A small, seeded hyper-parameter search within a time budget, judged without peeking.

Two splits, both time-based: candidates are compared on a *validation* window (the
``holdout_days`` before the test cut), and only the winner, the configured model and the
baselines are then scored on the *test* window (the ``holdout_days`` before ``as_of``). The
test window never influences the choice. Configurations are drawn from a seeded generator,
so the same seed and trial count give the same configurations; the time budget can only cut
the sequence short (it never changes its order).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np

from flows import stages
from flows.config import Settings
from flows.evaluate import Holdout, holdout, judged_scores
from models.candidates import MODEL_KINDS, ModelSpec

SPACE: dict[str, dict[str, tuple[Any, ...]]] = {
    "als": {
        "factors": (16, 32, 64, 128),
        "regularization": (0.01, 0.05, 0.2, 1.0, 5.0),
        "alpha": (0.5, 1.0, 2.0, 5.0, 10.0),
        "iterations": (10, 15, 25),
    },
    "bpr": {
        "factors": (32, 64, 128),
        "learning_rate": (0.01, 0.05, 0.1),
        "regularization": (0.001, 0.01, 0.1),
        "iterations": (50, 100, 200),
    },
    "item_cosine": {"neighbours": (10, 20, 50, 100, 200)},
    "hybrid": {"repeat_weight": (1.0, 2.0, 4.0, 8.0), "min_explore": (0, 1, 2, 3, 5)},
    "item_bm25": {
        "neighbours": (10, 20, 50, 100, 200),
        "k1": (0.6, 1.2, 2.0),
        "b": (0.25, 0.5, 0.75, 1.0),
    },
}
HALF_LIVES = (7.0, 14.0, 30.0, 60.0, 120.0)
POPULARITY_WINDOWS = (7, 14, 28, 56)  # days of recent popularity (fallback and baseline)
CART_WEIGHTS = (2.0, 4.0, 8.0)
PURCHASE_WEIGHTS = (5.0, 10.0, 20.0)


@dataclass
class Trial:
    spec: ModelSpec
    interactions: dict[str, Any]
    score: float = float("nan")
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.spec.label,
            "kind": self.spec.kind,
            "params": self.spec.full_params,
            "interactions": self.interactions,
            "score": self.score,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SearchResult:
    trials: list[Trial] = field(default_factory=list)
    best: Trial | None = None
    stopped_by: str = ""
    popularity: dict[int, float] = field(default_factory=dict)  # window days -> score


def draw(rng: np.random.Generator, kinds: tuple[str, ...], base: Settings) -> Trial:
    """One random configuration: a model kind with parameters, and interaction settings."""
    kind = str(rng.choice(kinds))
    params = {name: _pick(rng, values) for name, values in SPACE[kind].items()}
    interactions = base.interactions.model_dump()
    if rng.random() < 0.5:  # half the trials also vary how history is weighted
        interactions["half_life_days"] = _pick(rng, HALF_LIVES)
        cart = _pick(rng, CART_WEIGHTS)
        interactions["weights"] = {
            "view": 1.0,
            "add_to_cart": cart,
            "purchase": max(cart, _pick(rng, PURCHASE_WEIGHTS)),  # purchase >= add-to-cart
        }
    return Trial(ModelSpec(kind, params), interactions)


def _pick(rng: np.random.Generator, values: tuple[Any, ...]) -> Any:
    value = values[int(rng.integers(len(values)))]
    return value.item() if hasattr(value, "item") else value


def with_interactions(settings: Settings, interactions: dict[str, Any]) -> Settings:
    return Settings.model_validate({**settings.model_dump(), "interactions": interactions})


def search(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    as_of: dt.date,
    holdout_days: int,
    budget_s: float,
    max_trials: int,
    seed: int,
    kinds: tuple[str, ...] = (*MODEL_KINDS, "hybrid"),
) -> SearchResult:
    """Random search on the validation window before ``as_of - holdout_days``."""
    g = settings.gate
    validation_as_of = as_of - dt.timedelta(days=holdout_days)
    rng = np.random.default_rng(seed)
    # first the configured model as it is, then random draws
    trials = [Trial(stages.model_spec(settings), settings.interactions.model_dump())]
    result = SearchResult()
    cache: dict[str, Holdout] = {}
    started = time.perf_counter()
    while len(result.trials) < max_trials:
        if time.perf_counter() - started >= budget_s:
            result.stopped_by = f"time budget ({budget_s:.0f} s)"
            break
        trial = trials.pop(0) if trials else draw(rng, kinds, settings)
        key = repr(sorted(trial.interactions.items()))
        t0 = time.perf_counter()
        variant = with_interactions(settings, trial.interactions)
        if key not in cache:
            cache[key] = holdout(con, variant, as_of=validation_as_of, days=holdout_days)
        scores, _ = judged_scores(cache[key], [trial.spec], variant, metric=g.metric, k=g.k)
        trial.score = scores[trial.spec.label]
        trial.seconds = time.perf_counter() - t0
        result.trials.append(trial)
    else:
        result.stopped_by = f"trial count ({max_trials})"
    result.best = max(result.trials, key=lambda t: t.score) if result.trials else None
    if result.best is not None:
        result.popularity = popularity_windows(con, settings, validation_as_of, holdout_days)
        window = max(result.popularity, key=lambda d: (result.popularity[d], -d))
        result.best.interactions = {**result.best.interactions, "popularity_days": window}
    return result


def popularity_windows(
    con: duckdb.DuckDBPyConnection, settings: Settings, as_of: dt.date, holdout_days: int
) -> dict[int, float]:
    """Recent popularity's score on the window before ``as_of`` for each popularity window
    (the fallback and the ``popular`` baseline use it; ties go to the shorter window)."""
    g = settings.gate
    scores = {}
    for days in POPULARITY_WINDOWS:
        variant = with_interactions(
            settings, {**settings.interactions.model_dump(), "popularity_days": days}
        )
        data = holdout(con, variant, as_of=as_of, days=holdout_days)
        found, _ = judged_scores(data, [ModelSpec("popular")], variant, metric=g.metric, k=g.k)
        scores[days] = round(found["popular"], 6)
    return scores


def as_toml(trial: Trial) -> str:
    """The chosen configuration as an ``offers.toml`` snippet.

    A hybrid keeps the configured model as its explore list and is judged nightly as an
    alternative (``gate.alternatives``); its section holds the mixing parameters.
    """
    kind = trial.spec.kind
    section = {"als": "als", "bpr": "bpr", "hybrid": "hybrid"}.get(kind, "item_knn")
    head = [] if kind == "hybrid" else [f'model = "{kind}"', ""]
    lines = [*head, "[interactions]"]
    lines.append(f"half_life_days = {trial.interactions['half_life_days']}")
    lines.append(f"popularity_days = {trial.interactions['popularity_days']}")
    lines += ["", "[interactions.weights]"]
    lines += [f"{k} = {v}" for k, v in trial.interactions["weights"].items()]
    lines += ["", f"[{section}]"]
    lines += [f"{k} = {v}" for k, v in trial.spec.full_params.items() if k != "explore"]
    return "\n".join(lines) + "\n"

"""The promotion gate: which candidate makes tonight's lists, decided on evidence, the same way
every time.

The flow gathers ``Evidence``: every candidate's per-customer score (e.g. NDCG@10 on
purchases) in each of several consecutive holdout windows, all candidates trained at the same
cut before the first window (equally stale), the current model re-scored from its stored
factors. ``decide`` turns that into a ``GateDecision``:

* the *incumbent* is the current model (if one is in charge and could be judged), else the
  strongest baseline; the *challenger* is the best of the others;
* the challenger takes charge only if its pooled score beats the incumbent's by ``margin``
  (relative) **and** the paired, per-customer difference is significant: a bootstrap over
  customers (a customer's windows resampled together, seeded) gives P(difference <= 0) below
  ``alpha``;
* it fails closed: with fewer judged customers than ``min_customers`` the current model stays,
  or with none in charge the strongest baseline is published; never an unjudged model;
* it is deterministic: pooled scores are rounded to ``decimals`` before any comparison and
  ties go to the candidate listed first (new model, alternatives, baselines in config order).

No I/O here: arrays in, an immutable decision out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

PROMOTE = "promote"  # a trained candidate (the new model or an alternative kind) takes charge
KEEP_CURRENT = "keep_current"
BASELINE = "baseline"  # a popularity baseline makes the lists

NEW, CURRENT, ALTERNATIVE, BASELINE_ROLE = "new", "current", "alternative", "baseline"
CURRENT_LABEL = "current"


@dataclass(frozen=True)
class Evidence:
    """Per-(customer, window) scores of every candidate on the same judged pairs.

    ``scores[label][i]`` is the candidate's metric for pair i: customer ``pair_customer[i]``
    (0..customers-1) in window ``pair_window[i]``. Insertion order of ``scores`` is the tie
    order. ``roles[label]`` is new, current, alternative or baseline; ``kinds[label]`` the
    model kind.
    """

    metric: str
    windows: tuple[str, ...]
    pair_customer: np.ndarray
    pair_window: np.ndarray
    scores: dict[str, np.ndarray]
    roles: dict[str, str]
    kinds: dict[str, str]

    @property
    def customers(self) -> int:
        return int(np.unique(self.pair_customer).size)


@dataclass(frozen=True)
class Policy:
    margin: float = 0.05
    alpha: float = 0.05
    min_customers: int = 100
    replicates: int = 1000
    seed: int = 0
    decimals: int = 6


@dataclass(frozen=True)
class PairedTest:
    """Challenger minus incumbent, per customer, bootstrapped over customers."""

    challenger: str
    incumbent: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    lift: float


@dataclass(frozen=True)
class GateDecision:
    """What makes tonight's lists and why; stored with the run and the registry."""

    action: str
    chosen: str  # label of the candidate that makes the lists ("current" when kept)
    kind: str | None  # its model kind (None when the current model is kept)
    reason: str
    metric: str = ""
    windows: tuple[str, ...] = ()
    judged_customers: int = 0
    judged_pairs: int = 0
    scores: dict[str, float] = field(default_factory=dict)
    window_scores: dict[str, list[float | None]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    test: PairedTest | None = None
    current_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["windows"] = list(self.windows)
        return out

    def registry_entry(self, label: str) -> dict[str, Any]:
        """What the registry keeps with the model judged as ``label``: its score, the best
        baseline's, and the verdict."""
        baselines = [s for k, s in self.scores.items() if self.roles.get(k) == BASELINE_ROLE]
        return {
            "action": self.action,
            "chosen": self.chosen,
            "metric": self.metric,
            "score": self.scores.get(label),
            "baseline": max(baselines) if baselines else None,
            "reason": self.reason,
            "windows": list(self.windows),
            "judged_customers": self.judged_customers,
            "scores": self.scores,
            "test": asdict(self.test) if self.test else None,
        }

    def strongest_baseline(self, default: str) -> str:
        """The best judged baseline (ties to the first listed); ``default`` if none was."""
        judged = [
            label
            for label, role in self.roles.items()
            if role == BASELINE_ROLE and label in self.scores
        ]
        return _best(judged, self.scores, judged) if judged else default

    def fall_back(self, kind: str, why: str) -> GateDecision:
        """The same verdict, but ``kind`` (a baseline) publishes instead, saying why."""
        return replace(
            self, action=BASELINE, chosen=kind, kind=kind, reason=f"{self.reason}; but {why}"
        )


def pinned(version: str, kind: str) -> GateDecision:
    return GateDecision(
        action=KEEP_CURRENT,
        chosen=CURRENT_LABEL,
        kind=None,
        reason=(
            f"{version} ({kind}) is pinned by an engineer (offers models promote/rollback); "
            "keeping it. `offers models unpin` lets the gate decide again"
        ),
        current_version=version,
    )


def disabled(kind: str, current_version: str | None) -> GateDecision:
    return GateDecision(
        action=PROMOTE,
        chosen=kind,
        kind=kind,
        reason="gate disabled in settings: the new model is promoted unjudged",
        current_version=current_version,
    )


def no_evidence(why: str, current_version: str | None, baseline: str) -> GateDecision:
    """Nothing could be judged (no history before the cut): fail closed."""
    if current_version is not None:
        return GateDecision(
            KEEP_CURRENT,
            CURRENT_LABEL,
            None,
            f"{why}: nothing can be judged; keeping the current model {current_version}",
            current_version=current_version,
        )
    return GateDecision(
        BASELINE,
        baseline,
        baseline,
        f"{why}: nothing can be judged; publishing the first configured baseline, {baseline}",
    )


def paired_bootstrap(
    difference: np.ndarray,
    cluster: np.ndarray,
    *,
    replicates: int,
    seed: int,
    alpha: float = 0.05,
) -> tuple[float, float, float, float]:
    """Mean of ``difference``, its (1 - 2 alpha) interval and one-sided p = P(mean <= 0).

    Customers (``cluster``) are resampled with replacement, each with all its pairs;
    ``p`` = (1 + replicates with mean <= 0) / (replicates + 1). The interval's lower end is
    the one-sided bound the test uses, so "p < alpha" and "interval above 0" agree.
    """
    n = int(cluster.max()) + 1 if len(cluster) else 0
    if n == 0:
        return 0.0, 0.0, 0.0, 1.0
    sums = np.bincount(cluster, weights=difference, minlength=n)
    counts = np.bincount(cluster, minlength=n).astype(np.float64)
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, replicates, 100):
        size = min(100, replicates - start)
        drawn = rng.integers(0, n, size=(size, n))  # n customers drawn with replacement
        means.append(sums[drawn].sum(axis=1) / np.maximum(counts[drawn].sum(axis=1), 1.0))
    boot = np.concatenate(means)
    low, high = np.quantile(boot, [alpha, 1.0 - alpha])
    p_value = (1.0 + float(np.sum(boot <= 0.0))) / (replicates + 1.0)
    return float(difference.mean()), float(low), float(high), p_value


def _pooled(
    evidence: Evidence, decimals: int
) -> tuple[dict[str, float], dict[str, list[float | None]]]:
    """Mean per candidate over all pairs and per window (None: nobody judged in it)."""
    pooled: dict[str, float] = {}
    per_window: dict[str, list[float | None]] = {}
    for label, values in evidence.scores.items():
        pooled[label] = round(float(values.mean()), decimals) if len(values) else 0.0
        per_window[label] = [
            round(float(values[evidence.pair_window == w].mean()), decimals)
            if np.any(evidence.pair_window == w)
            else None
            for w in range(len(evidence.windows))
        ]
    return pooled, per_window


def _best(labels: list[str], pooled: dict[str, float], order: list[str]) -> str:
    """Highest rounded score; ties go to the label listed first."""
    return min(labels, key=lambda label: (-pooled[label], order.index(label)))


def _test(evidence: Evidence, challenger: str, incumbent: str, policy: Policy) -> PairedTest:
    diff = evidence.scores[challenger] - evidence.scores[incumbent]
    mean, low, high, p = paired_bootstrap(
        diff,
        evidence.pair_customer,
        replicates=policy.replicates,
        seed=policy.seed,
        alpha=policy.alpha,
    )
    base = float(evidence.scores[incumbent].mean()) if len(diff) else 0.0
    d = policy.decimals
    lift = round((mean / base) if base > 0 else (np.inf if mean > 0 else 0.0), 4)
    return PairedTest(
        challenger, incumbent, round(mean, d), round(low, d), round(high, d), round(p, 4), lift
    )


def decide(
    evidence: Evidence,
    policy: Policy,
    *,
    incumbent: str | None = None,
    current_version: str | None = None,
) -> GateDecision:
    """The verdict on ``evidence``.

    ``incumbent`` is the label under which the current model was judged (``current``, or a
    baseline's label when a baseline is in charge); None when no model is in charge or it
    could not be judged. ``current_version`` names the model in charge, if any (it is kept
    when nothing clearly beats it, judged or not).
    """
    order = list(evidence.scores)
    baselines = [label for label in order if evidence.roles[label] == BASELINE_ROLE]
    if not baselines:
        raise ValueError("the gate needs at least one baseline candidate")
    pooled, per_window = _pooled(evidence, policy.decimals)
    best_baseline = _best(baselines, pooled, order)
    judged = evidence.customers
    common = {
        "metric": evidence.metric,
        "windows": evidence.windows,
        "judged_customers": judged,
        "judged_pairs": len(evidence.pair_customer),
        "scores": pooled,
        "window_scores": per_window,
        "roles": dict(evidence.roles),
        "current_version": current_version,
    }

    def stay(why: str, test: PairedTest | None = None) -> GateDecision:
        if current_version is not None:
            return GateDecision(
                KEEP_CURRENT,
                CURRENT_LABEL,
                None,
                f"{why}; keeping the current model {current_version}",
                test=test,
                **common,
            )
        kind = evidence.kinds[best_baseline]
        return GateDecision(
            BASELINE,
            best_baseline,
            kind,
            f"{why}; publishing the strongest baseline, {best_baseline}",
            test=test,
            **common,
        )

    if judged < policy.min_customers:
        return stay(
            f"only {judged} customers judged over {len(evidence.windows)} windows (fewer than "
            f"gate.min_customers = {policy.min_customers}): too little evidence to change"
        )
    holder = incumbent if incumbent in evidence.scores else best_baseline
    challengers = [label for label in order if label != holder]
    if not challengers:
        return stay("no challenger to judge")
    challenger = _best(challengers, pooled, order)
    test = _test(evidence, challenger, holder, policy)
    need = pooled[holder] * (1.0 + policy.margin)
    summary = (
        f"{challenger} {evidence.metric} {pooled[challenger]:.4f} vs {holder} "
        f"{pooled[holder]:.4f} over {len(evidence.windows)} windows, {judged} customers: "
        f"paired difference {test.difference:+.4f} ({1 - 2 * policy.alpha:.0%} CI "
        f"{test.ci_low:+.4f}..{test.ci_high:+.4f},"
        f" p={test.p_value:.3f})"
    )
    wins = pooled[challenger] > 0 and pooled[challenger] >= need and test.p_value < policy.alpha
    if not wins:
        why = (
            f"needs {need:.4f} (+{policy.margin:.0%}) and p < {policy.alpha}"
            if pooled[challenger] < need or pooled[challenger] <= 0
            else f"not significant (p >= {policy.alpha})"
        )
        return stay(f"{summary}: {why}", test)
    role = evidence.roles[challenger]
    action = BASELINE if role == BASELINE_ROLE else PROMOTE
    if role == CURRENT:  # pragma: no cover - the current model is always the holder when judged
        action = KEEP_CURRENT
    return GateDecision(
        action,
        challenger,
        evidence.kinds[challenger],
        f"{summary}: beats {holder} by at least {policy.margin:.0%}, significant; "
        f"{challenger} takes charge",
        test=test,
        **common,
    )


def describe(verdict: GateDecision | dict[str, Any]) -> list[str]:
    """Lines for a terminal or a log: the verdict, every candidate per window, the test.

    Takes a decision or its ``as_dict`` form (as stored in a run summary).
    """
    v = verdict.as_dict() if isinstance(verdict, GateDecision) else verdict
    lines = [f"gate: {v['action']} ({v['chosen']}): {v['reason']}"]
    scores: dict[str, float] = v.get("scores") or {}
    if scores:
        lines.append(
            f"  {v['metric']} on windows {', '.join(v['windows'])} "
            f"({v['judged_customers']} customers, {v['judged_pairs']} customer-windows)"
        )
        for label, score in sorted(scores.items(), key=lambda kv: -kv[1]):
            windows = " ".join(
                "-" if s is None else f"{s:.4f}" for s in v["window_scores"].get(label, [])
            )
            role = v["roles"].get(label, "")
            lines.append(f"  {label:<18} {role:<11} pooled {score:.4f}  windows {windows}")
    return lines

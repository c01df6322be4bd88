"""The promotion gate: publish a new model only when the evidence says it is better.

A new model is promoted when, on the same time-based holdout, it beats the strongest
popularity baseline by ``margin`` (relative) and does not fall more than ``tolerance``
(relative) below the score the current model earned when it was promoted. Otherwise the
current model stays in charge; with no usable current model, the strongest baseline is
published instead. The decision always carries a sentence saying why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PROMOTE = "promote"
KEEP_CURRENT = "keep_current"
BASELINE = "baseline"


@dataclass(frozen=True)
class GateDecision:
    action: str
    reason: str
    metric: str
    candidate: float
    best_baseline: float
    baseline_kind: str
    current: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    *,
    metric: str,
    candidate: float,
    baselines: dict[str, float],
    current: float | None,
    margin: float,
    tolerance: float,
    has_current: bool | None = None,
) -> GateDecision:
    """Promote, keep the current model, or fall back to the best baseline; say why.

    ``current`` is the current model's score when it was judged the same way (else None);
    ``has_current`` says whether a current model exists at all (default: ``current`` given).
    """
    if has_current is None:
        has_current = current is not None
    if not baselines:
        raise ValueError("the gate needs at least one baseline score")
    baseline_kind, best = max(baselines.items(), key=lambda kv: (kv[1], kv[0]))
    need = best * (1.0 + margin)
    beats_baseline = candidate >= need and candidate > 0
    floor = None if current is None else current * (1.0 - tolerance)
    keeps_level = floor is None or candidate >= floor

    def result(action: str, reason: str) -> GateDecision:
        return GateDecision(action, reason, metric, candidate, best, baseline_kind, current)

    if beats_baseline and keeps_level:
        vs_current = (
            "" if current is None else f" and is within tolerance of the current {current:.4f}"
        )
        return result(
            PROMOTE,
            f"new model {metric} {candidate:.4f} beats {baseline_kind} {best:.4f} by at least "
            f"{margin:.0%}{vs_current}",
        )
    if not beats_baseline:
        why = (
            f"new model {metric} {candidate:.4f} does not beat {baseline_kind} {best:.4f} "
            f"by {margin:.0%} (needs {need:.4f})"
        )
    else:
        why = (
            f"new model {metric} {candidate:.4f} is more than {tolerance:.0%} below the current "
            f"model's {current:.4f}"
        )
    if has_current:
        return result(KEEP_CURRENT, f"{why}; keeping the current model")
    return result(BASELINE, f"{why}; publishing {baseline_kind} instead")

"""The promotion gate as a policy: paired evidence in, one deterministic decision out."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import gate

POLICY = gate.Policy(margin=0.05, alpha=0.05, min_customers=50, replicates=500, seed=0)


def evidence(scores: dict[str, np.ndarray], roles: dict[str, str], windows: int = 3):
    """``scores[label]`` holds one value per (customer, window) pair, customers repeating
    across windows: pair i is customer i // windows in window i % windows."""
    n = len(next(iter(scores.values())))
    return gate.Evidence(
        metric="ndcg@10",
        windows=tuple(f"w{w}" for w in range(windows)),
        pair_customer=np.arange(n) // windows,
        pair_window=np.arange(n) % windows,
        scores=scores,
        roles=roles,
        kinds={label: label for label in scores},
    )


def hits(rate: float, n: int, seed: int) -> np.ndarray:
    """Per-pair scores: 1.0 with probability ``rate`` (a hit at rank 1), else 0."""
    return (np.random.default_rng(seed).random(n) < rate).astype(np.float64)


ROLES = {"als": gate.NEW, "popular": gate.BASELINE_ROLE, "popular_category": gate.BASELINE_ROLE}


def test_a_clear_and_significant_win_over_the_strongest_baseline_takes_charge():
    ev = evidence(
        {"als": hits(0.30, 3000, 1), "popular": hits(0.10, 3000, 2),
         "popular_category": hits(0.20, 3000, 3)},
        ROLES,
    )  # fmt: skip
    d = gate.decide(ev, POLICY)
    assert (d.action, d.chosen, d.kind) == (gate.PROMOTE, "als", "als")
    assert d.test is not None and d.test.incumbent == "popular_category"
    assert d.test.p_value < 0.01 and d.test.ci_low > 0
    assert d.judged_customers == 1000 and d.judged_pairs == 3000
    assert d.scores["als"] == pytest.approx(ev.scores["als"].mean(), abs=1e-6)
    assert len(d.window_scores["als"]) == 3
    assert "als takes charge" in d.reason


def test_a_win_inside_the_noise_does_not_take_charge():
    # above the margin on the pooled score, but it wins 14 pairs and loses 10: noise
    base = hits(0.25, 300, 4)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:14]] = 1.0
    better[np.flatnonzero(base == 1)[:10]] = 0.0
    ev = evidence({"als": better, "popular": base}, ROLES | {"popular": gate.BASELINE_ROLE})
    d = gate.decide(ev, gate.Policy(margin=0.05, min_customers=50, replicates=500))
    assert d.scores["als"] >= d.scores["popular"] * 1.05
    assert d.action == gate.BASELINE and d.chosen == "popular"
    assert d.test is not None and d.test.p_value >= 0.05
    assert "not significant" in d.reason
    assert d.reason.endswith("publishing the strongest baseline, popular")


def test_fails_closed_with_too_little_evidence():
    # the new model looks four times better, but only 30 customers were judged
    ev = evidence({"als": np.ones(90), "popular": np.full(90, 0.25)}, ROLES)
    d = gate.decide(ev, POLICY)
    assert (d.action, d.chosen) == (gate.BASELINE, "popular")
    assert "only 30 customers judged over 3 windows (fewer than gate.min_customers = 50)" in (
        d.reason
    )
    kept = gate.decide(ev, POLICY, incumbent=None, current_version="als-1")
    assert (kept.action, kept.chosen, kept.kind) == (gate.KEEP_CURRENT, gate.CURRENT_LABEL, None)
    assert kept.reason.endswith("keeping the current model als-1")


def test_no_evidence_at_all_fails_closed_too():
    d = gate.no_evidence("no history before the gate's cut 2025-04-20", None, "popular")
    assert (d.action, d.kind) == (gate.BASELINE, "popular")
    d = gate.no_evidence("no history", "als-1", "popular")
    assert (d.action, d.current_version) == (gate.KEEP_CURRENT, "als-1")


def test_the_current_model_is_kept_unless_a_challenger_clearly_beats_it():
    roles = {"current": gate.CURRENT, **ROLES}
    current = hits(0.25, 3000, 5)
    ev = evidence(
        {"current": current, "als": current.copy(), "popular": hits(0.1, 3000, 6),
         "popular_category": hits(0.12, 3000, 7)},
        roles,
    )  # fmt: skip
    d = gate.decide(ev, POLICY, incumbent="current", current_version="als-1")
    assert d.action == gate.KEEP_CURRENT
    assert d.test is not None and (d.test.challenger, d.test.incumbent) == ("als", "current")
    assert d.test.difference == 0.0 and d.test.p_value == 1.0
    # the current model went stale: a baseline now beats it on tonight's windows
    ev = evidence(
        {"current": hits(0.05, 3000, 8), "als": hits(0.06, 3000, 9),
         "popular": hits(0.1, 3000, 10), "popular_category": hits(0.2, 3000, 11)},
        roles,
    )  # fmt: skip
    d = gate.decide(ev, POLICY, incumbent="current", current_version="als-1")
    assert (d.action, d.chosen, d.kind) == (gate.BASELINE, "popular_category", "popular_category")


def test_an_unjudged_current_model_stays_unless_a_challenger_beats_the_baselines():
    ev = evidence({"als": hits(0.12, 3000, 12), "popular": hits(0.1, 3000, 13)}, ROLES)
    d = gate.decide(ev, POLICY, incumbent=None, current_version="als-old")
    assert d.action == gate.KEEP_CURRENT and d.test is not None
    assert d.test.incumbent == "popular"


def test_exact_ties_and_last_digit_noise_decide_the_same_way_every_time():
    a = hits(0.2, 3000, 14)
    # two baselines tie exactly; a third differs from them only in the 17th digit
    scores = {"popular": a, "popular_category": a.copy(), "popular_all_time": a * (1 + 1e-16)}
    roles = {label: gate.BASELINE_ROLE for label in scores}
    first = gate.decide(evidence(scores, roles), POLICY)
    assert (first.action, first.chosen) == (gate.BASELINE, "popular")  # listed first wins
    assert first.scores["popular"] == first.scores["popular_all_time"]  # rounded alike
    again = gate.decide(evidence({k: v.copy() for k, v in scores.items()}, roles), POLICY)
    assert again == first
    flipped = {"popular": a * (1 + 1e-16), "popular_category": a, "popular_all_time": a.copy()}
    assert gate.decide(evidence(flipped, roles), POLICY).chosen == "popular"


def test_paired_bootstrap_known_answers():
    cluster = np.repeat(np.arange(100), 2)
    mean, low, high, p = gate.paired_bootstrap(np.zeros(200), cluster, replicates=200, seed=0)
    assert (mean, low, high, p) == (0.0, 0.0, 0.0, 1.0)
    mean, low, high, p = gate.paired_bootstrap(np.full(200, 0.1), cluster, replicates=200, seed=0)
    assert mean == pytest.approx(0.1) and low == pytest.approx(0.1) and high == pytest.approx(0.1)
    assert p == pytest.approx(1 / 201)
    # the same seed gives the same answer; another seed a different resample
    diff = np.random.default_rng(1).normal(0.01, 0.3, 200)
    assert gate.paired_bootstrap(diff, cluster, replicates=300, seed=7) == gate.paired_bootstrap(
        diff, cluster, replicates=300, seed=7
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1), min_size=60, max_size=120),
    st.lists(st.floats(0, 1), min_size=60, max_size=120),
    st.booleans(),
)
def test_never_an_unjudged_or_losing_model(new, base, has_current):
    n = min(len(new), len(base)) // 3 * 3
    ev = evidence(
        {"als": np.array(new[:n]), "popular": np.array(base[:n])},
        {"als": gate.NEW, "popular": gate.BASELINE_ROLE},
    )
    d = gate.decide(ev, POLICY, current_version="als-0" if has_current else None)
    if d.action == gate.PROMOTE:
        assert d.judged_customers >= POLICY.min_customers
        assert d.scores["als"] >= d.scores["popular"] * (1 + POLICY.margin)
        assert d.test is not None and d.test.p_value < POLICY.alpha
    else:
        assert d.action == (gate.KEEP_CURRENT if has_current else gate.BASELINE)


def test_the_verdict_is_described_for_people_and_kept_for_the_registry():
    ev = evidence({"als": hits(0.3, 600, 1), "popular": hits(0.1, 600, 2)}, ROLES)
    d = gate.decide(ev, POLICY)
    lines = gate.describe(d)
    assert lines[0].startswith("gate: promote (als): als ndcg@10")
    assert "on windows w0, w1, w2 (200 customers, 600 customer-windows)" in lines[1]
    assert lines[2].split()[:2] == ["als", "new"]
    assert lines[3].split()[:2] == ["popular", "baseline"]
    entry = d.registry_entry("als")
    assert entry["score"] == d.scores["als"] and entry["baseline"] == d.scores["popular"]
    assert entry["test"]["challenger"] == "als"
    assert d.strongest_baseline("popular_category") == "popular"  # the only judged baseline
    assert gate.pinned("als-1", "als").strongest_baseline("popular_category") == "popular_category"
    fallen = d.fall_back("popular", "its files are gone")
    assert (fallen.action, fallen.kind) == (gate.BASELINE, "popular")
    assert fallen.reason.endswith("; but its files are gone") and d.action == gate.PROMOTE


def test_an_empty_window_is_shown_as_such_and_the_interval_matches_the_test():
    n = 600
    ev = gate.Evidence(
        metric="ndcg@10",
        windows=("w0", "w1", "w2"),
        pair_customer=np.arange(n) // 2,
        pair_window=np.arange(n) % 2,  # nobody bought in w2
        scores={"als": hits(0.3, n, 1), "popular": hits(0.25, n, 2)},
        roles={"als": gate.NEW, "popular": gate.BASELINE_ROLE},
        kinds={"als": "als", "popular": "popular"},
    )
    d = gate.decide(ev, POLICY)
    assert d.window_scores["als"][2] is None
    assert gate.describe(d)[2].endswith(" -")
    assert d.test is not None
    # the interval is the (1 - 2 alpha) one: its lower end is above 0 exactly when p < alpha
    assert (d.test.ci_low > 0) == (d.test.p_value < POLICY.alpha)
    assert "(90% CI " in d.reason

"""Publish checks (models/publish_checks.py): known answers for every check, exact thresholds,
and the first night (no previous night)."""

from __future__ import annotations

import pytest

from flows.config import load_settings
from flows.errors import ConfigError
from models.publish_checks import ChannelStats, Drift, Thresholds, evaluate, failed

S = ChannelStats


def _by_name(results):
    return {r.name: r for r in results}


def test_first_night_passes_with_notes_and_only_needs_a_shop_list():
    results = evaluate({"shop": S(800, 16_000), "email": S(486, 2_430)}, None)
    assert [r.name for r in results] == [
        "customers_served", "nonempty_shop", "nonempty_email", "drift_shop",
    ]  # fmt: skip
    assert failed(results) == []
    got = _by_name(results)
    assert got["customers_served"].value is None
    assert "no previous night" in got["customers_served"].message
    assert got["drift_shop"].value is None
    assert "no previous night" in got["drift_shop"].message
    assert (got["nonempty_shop"].value, got["nonempty_shop"].threshold) == (800, 1)


def test_the_shop_must_never_be_empty_even_on_the_first_night():
    results = evaluate({"email": S(10, 50)}, None)
    assert [r.name for r in failed(results)] == ["nonempty_shop"]
    assert "must never be empty" in _by_name(results)["nonempty_shop"].message


@pytest.mark.parametrize(
    ("before", "now", "passes", "drop"),
    [
        (800, 400, True, 0.5),  # exactly the threshold: "more than" half is refused
        (800, 399, False, 401 / 800),
        (800, 900, True, -0.125),  # growth passes
        (800, 800, True, 0.0),
    ],
)
def test_customers_served_fails_only_beyond_the_allowed_drop(before, now, passes, drop):
    result = _by_name(evaluate({"shop": S(now, 20 * now)}, {"shop": S(before, 20 * before)}))
    check = result["customers_served"]
    assert (check.passed, check.threshold) == (passes, 0.5)
    assert check.value == pytest.approx(drop)
    assert f"{now:,} customers with a shop list against {before:,}" in check.message
    assert ("fell by more than 50%" in check.message) is not passes


def test_customers_served_uses_the_configured_drop():
    tonight, before = {"shop": S(700, 1)}, {"shop": S(1000, 1)}
    assert _by_name(evaluate(tonight, before, None, Thresholds(max_customer_drop=0.3)))[
        "customers_served"
    ].passed
    assert not _by_name(evaluate(tonight, before, None, Thresholds(max_customer_drop=0.29)))[
        "customers_served"
    ].passed


def test_a_previous_night_without_shop_lists_is_no_reference():
    check = _by_name(evaluate({"shop": S(5, 100)}, {"email": S(3, 15)}))["customers_served"]
    assert check.passed and check.value is None and "none the previous night" in check.message


def test_a_channel_that_had_lists_last_night_must_have_lists_tonight():
    before = {"shop": S(800, 16_000), "email": S(486, 2_430), "winback": S(12, 60)}
    results = evaluate({"shop": S(800, 16_000), "email": S(480, 2_400)}, before)
    assert [r.name for r in failed(results)] == ["nonempty_winback"]
    winback = _by_name(results)["nonempty_winback"]
    assert (winback.value, winback.threshold) == (0.0, 1.0)
    assert winback.message == "no winback lists tonight: 12 customers had one the previous night"


def test_a_channel_empty_both_nights_or_new_tonight_passes():
    before = {"shop": S(10, 200), "winback": S(0, 0)}
    results = _by_name(evaluate({"shop": S(10, 200), "email": S(4, 20)}, before))
    assert results["nonempty_winback"].passed
    assert results["nonempty_winback"].threshold is None
    assert "none the previous night either" in results["nonempty_winback"].message
    assert results["nonempty_email"].passed  # new tonight


def test_an_empty_shop_after_a_served_night_names_last_nights_customers():
    check = _by_name(evaluate({}, {"shop": S(800, 16_000)}))["nonempty_shop"]
    assert not check.passed
    assert check.message == "no shop lists tonight: 800 customers had one the previous night"


@pytest.mark.parametrize(("new_rows", "passes"), [(95, True), (96, False), (0, True), (100, False)])
def test_shop_drift_fails_only_above_the_threshold(new_rows, passes):
    drift = {"shop": Drift(customers=5, rows=100, new_rows=new_rows)}
    stats = {"shop": S(5, 100)}
    check = _by_name(evaluate(stats, stats, drift))["drift_shop"]
    assert check.passed is passes
    assert check.value == new_rows / 100 and check.threshold == 0.95
    assert f"{new_rows / 100:.1%} of 100 shop offers to 5 customers" in check.message


def test_only_the_shops_drift_is_checked():
    """Email rotates on purpose (no repeats within email_repeat_days): full drift is fine."""
    stats = {"shop": S(5, 100), "email": S(5, 25)}
    drift = {"shop": Drift(5, 100, 10), "email": Drift(5, 25, 25)}
    assert failed(evaluate(stats, stats, drift)) == []


def test_drift_without_customers_listed_both_nights_passes_with_a_note():
    stats = {"shop": S(5, 100)}
    for drift in (None, {"shop": Drift(0, 0, 0)}):
        check = _by_name(evaluate(stats, {"shop": S(3, 60)}, drift))["drift_shop"]
        assert check.passed and check.value is None
        assert check.message == "no customer has a shop list both nights"


def test_drift_share_and_dict():
    assert Drift(2, 40, 10).share == 0.25
    assert Drift(0, 0, 0).share is None
    assert Drift(2, 40, 10).as_dict() == {
        "customers": 2, "rows": 40, "new_rows": 10, "share": 0.25,
    }  # fmt: skip


def test_settings_defaults_match_the_policy_and_are_validated(tmp_path):
    settings = load_settings(tmp_path)
    assert settings.publish.max_customer_drop == Thresholds().max_customer_drop == 0.5
    assert settings.publish.max_drift == Thresholds().max_drift == 0.95
    before = settings.config_hash()
    (tmp_path / "offers.toml").write_text("[publish]\nmax_drift = 0.8\n")
    changed = load_settings(tmp_path)
    assert changed.publish.max_drift == 0.8
    assert changed.config_hash() == before  # checks do not change the offers
    (tmp_path / "offers.toml").write_text("[publish]\nmax_drift = 1.5\n")
    with pytest.raises(ConfigError, match=r"publish\.max_drift"):
        load_settings(tmp_path)

"""Stored models: save, load and reuse them on another night's id maps; which one is in charge."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows import db, registry, stages
from flows.errors import UsageError
from models import columns as C
from models.candidates import ModelSpec
from models.recommender import Inputs, fit, prepare, recommend, reuse

NOW = dt.datetime(2025, 6, 1, 3, 0)


def inputs(customers: list[str], products: list[str], seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    pairs = [(c, p) for c in customers for p in products if rng.random() < 0.35]
    interactions = pl.DataFrame(
        {
            C.CUSTOMER: [c for c, _ in pairs],
            C.PRODUCT: [p for _, p in pairs],
            C.WEIGHT: rng.uniform(1, 10, len(pairs)),
        }
    )
    catalogue = pl.DataFrame({C.PRODUCT: products, C.CATEGORY: [p[:2] for p in products]})
    bought = interactions.filter(pl.col(C.WEIGHT) > 7).select(C.CUSTOMER, C.PRODUCT)
    bought = bought.with_columns(orders=pl.Series(rng.integers(1, 4, bought.height)))
    due = bought.filter(pl.col("orders") >= 2).with_columns(pl.col("orders").alias(C.WEIGHT))
    return Inputs(
        interactions=interactions,
        recent=interactions,
        exclusions=pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String}),
        customers=pl.DataFrame({C.CUSTOMER: customers, C.EMAIL_CONSENT: [True] * len(customers)}),
        products=catalogue,
        offerable=catalogue,
        buy_again=due.select(C.CUSTOMER, C.PRODUCT, C.WEIGHT),
        bought=bought,
    )


CUSTOMERS = [f"c{i:02d}" for i in range(40)]
PRODUCTS = [f"p{c}{i}" for c in "ab" for i in range(10)]


@pytest.mark.parametrize("kind", ["als", "bpr", "item_bm25", "popular_category", "hybrid"])
def test_save_load_reuse_round_trip(tmp_path: Path, kind: str):
    spec = ModelSpec(kind, {"factors": 8, "iterations": 5} if kind in ("als", "bpr") else {})
    night1 = inputs(CUSTOMERS, PRODUCTS)
    fitted = fit(night1, spec, seed=1)
    con = db.connect(tmp_path / "offers.duckdb")
    try:
        stages.save_model(
            con, tmp_path / "models", version="v1", as_of=NOW.date(), created_at=NOW,
            fitted=fitted, metadata={}, status="promoted",
        )  # fmt: skip
        current = stages.current_model(con, NOW.date())
    finally:
        con.close()
    assert current is not None and current.version == "v1"
    same = reuse(prepare(night1), stages.load_model(current))
    original = recommend(fitted, 5)
    again = recommend(same, 5)
    assert again.select(C.CUSTOMER, C.PRODUCT, C.SOURCE).equals(
        original.select(C.CUSTOMER, C.PRODUCT, C.SOURCE)
    )
    # night 2: a product sorting first shifts every index, one product is gone, new customers
    night2 = inputs(["a-new", *CUSTOMERS, "z-new"], ["p0first", *PRODUCTS[1:]], seed=2)
    shifted = reuse(prepare(night2), stages.load_model(current))
    if kind == "popular_category":  # a baseline keeps no state: rebuilt on tonight's data
        assert shifted.known_users is None
        assert recommend(shifted, 5).equals(recommend(fit(night2, spec, seed=1), 5))
        return
    assert shifted.known_users is not None and shifted.known_items is not None
    assert not shifted.known_users[0] and not shifted.known_items[0]
    lists = recommend(shifted, 5)
    sources = {"als", "buy_again"} if kind == "hybrid" else {kind}
    model_rows = lists.filter(pl.col(C.SOURCE).is_in(sorted(sources)))
    assert model_rows.height > 0
    assert not set(model_rows[C.CUSTOMER]) & {"a-new", "z-new"}
    assert "p0first" not in set(model_rows[C.PRODUCT]) and PRODUCTS[0] not in set(lists[C.PRODUCT])
    if kind in ("als", "bpr"):  # the same factors score the same (customer, product) pairs
        keys = original.select(C.CUSTOMER, C.PRODUCT).rows()
        scores = dict(zip(keys, original[C.SCORE], strict=True))
        for c, p, s in model_rows.select(C.CUSTOMER, C.PRODUCT, C.SCORE).iter_rows():
            if (c, p) in scores:
                assert s == pytest.approx(scores[(c, p)], rel=1e-5)


def test_the_model_in_charge_depends_on_the_as_of_date(tmp_path: Path):
    fitted = fit(inputs(CUSTOMERS, PRODUCTS), ModelSpec("popular"), seed=0)
    con = db.connect(tmp_path / "offers.duckdb")
    try:
        for version, day, status in (
            ("early", dt.date(2025, 5, 1), "promoted"),
            ("rejected", dt.date(2025, 5, 20), "rejected"),
            ("late", dt.date(2025, 6, 1), "promoted"),
        ):
            stages.save_model(
                con, tmp_path / "models", version=version, as_of=day, created_at=NOW,
                fitted=fitted, metadata={}, status=status,
            )  # fmt: skip

        def in_charge(day: dt.date | None) -> str | None:
            found = stages.current_model(con, day)
            return found.version if found else None

        assert in_charge(dt.date(2025, 4, 30)) is None  # nothing trained before it
        assert in_charge(dt.date(2025, 5, 1)) == "early"  # trained on data before May 1
        assert in_charge(dt.date(2025, 5, 31)) == "early"  # never the rejected one
        assert in_charge(dt.date(2025, 6, 1)) == in_charge(None) == "late"
        con.execute("update model_versions set pinned = true where version = 'late'")
        assert in_charge(dt.date(2025, 5, 31)) == "early"  # a pin from the future does not apply
        assert in_charge(dt.date(2025, 6, 2)) == "late"
    finally:
        con.close()


def registry_with(tmp_path: Path, versions: list[tuple[str, str]]) -> Path:
    """A database holding ``versions`` (name, status), oldest first, all as of NOW."""
    fitted = fit(inputs(CUSTOMERS, PRODUCTS), ModelSpec("popular"), seed=0)
    database = tmp_path / "offers.duckdb"
    con = db.connect(database)
    try:
        for i, (version, status) in enumerate(versions):
            stages.save_model(
                con, tmp_path / "models", version=version, as_of=NOW.date(),
                created_at=NOW + dt.timedelta(minutes=i), fitted=fitted, metadata={},
                status=status, scores={"reason": f"why {version}"},
            )  # fmt: skip
    finally:
        con.close()
    return database


def test_a_version_is_named_by_any_unique_prefix(tmp_path: Path):
    database = registry_with(
        tmp_path,
        [("als-20250601-a1", "promoted"), ("als-20250601-a12", "rejected"),
         ("als-20250602-b2", "promoted"), ("popular-20250602-b2", "rejected")],
    )  # fmt: skip
    con = db.connect(database)
    try:
        assert registry.resolve(con, "popular") == "popular-20250602-b2"
        assert registry.resolve(con, "als-20250602") == "als-20250602-b2"
        assert registry.resolve(con, "als-20250601-a1") == "als-20250601-a1"  # exact wins
        with pytest.raises(UsageError) as ambiguous:
            registry.resolve(con, "als-")
        assert ambiguous.value.exit_code == 2
        assert str(ambiguous.value) == (
            "'als-' matches 3 model versions: als-20250602-b2, als-20250601-a12, "
            "als-20250601-a1; give more of the name"
        )
        with pytest.raises(UsageError, match=r"no model version 'nope'; see `offers models`"):
            registry.resolve(con, "nope")
    finally:
        con.close()
    done = registry.promote(database, "als-20250601-a1", now=NOW)
    assert (done.version, done.replaced, done.forced) == (
        "als-20250601-a1",
        "als-20250602-b2",
        False,
    )


def test_a_version_the_gate_rejected_is_promoted_only_with_force(tmp_path: Path):
    database = registry_with(tmp_path, [("als-1", "promoted"), ("als-2", "rejected")])
    with pytest.raises(UsageError) as refused:
        registry.promote(database, "als-2", now=NOW)
    assert refused.value.exit_code == 2
    assert str(refused.value) == (
        "refusing to promote als-2: the gate rejected it (why als-2); "
        "pass --force to put it in charge anyway"
    )
    con = db.connect(database)
    try:
        assert stages.current_model(con).version == "als-1"  # nothing changed
    finally:
        con.close()
    later = NOW + dt.timedelta(hours=1)
    done = registry.promote(database, "als-2", now=later, force=True)
    assert (done.version, done.replaced, done.was, done.forced) == (
        "als-2",
        "als-1",
        "rejected",
        True,
    )
    con = db.connect(database)
    try:
        current = stages.current_model(con)
        assert (current.version, current.pinned) == ("als-2", True)
        assert current.scores["forced"] == {"at": str(later), "was": "rejected"}
        assert current.scores["reason"] == "why als-2"  # the gate's verdict is kept
        listed = registry.list_models(con).filter(pl.col("version") == "als-2")
        assert listed.get_column("forced_at").to_list() == [str(later)]
    finally:
        con.close()

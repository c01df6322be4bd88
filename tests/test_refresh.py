"""Incremental nights: refreshing the ALS model in charge instead of retraining it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from helpers import END

from flows.nightly import nightly
from flows.publish import verify
from models import columns as C
from models.candidates import ModelSpec
from models.recommender import Inputs, StoredModel, fit, prepare, reuse
from models.refresh import changed_users, refresh_als

SPEC = ModelSpec("als", {"factors": 2, "iterations": 20, "regularization": 0.1})  # 2 clusters


def _inputs(pairs: list[tuple[str, str]], products: list[str]) -> Inputs:
    interactions = pl.DataFrame(
        {
            C.CUSTOMER: [c for c, _ in pairs],
            C.PRODUCT: [p for _, p in pairs],
            C.WEIGHT: [1.0] * len(pairs),
        }
    )
    catalogue = pl.DataFrame({C.PRODUCT: products, C.CATEGORY: ["x"] * len(products)})
    customers = pl.DataFrame({C.CUSTOMER: sorted({c for c, _ in pairs})})
    return Inputs(
        interactions=interactions,
        recent=interactions,
        exclusions=pl.DataFrame(schema={C.CUSTOMER: pl.String, C.PRODUCT: pl.String}),
        customers=customers.with_columns(pl.lit(True).alias("email_consent")),
        products=catalogue,
        offerable=catalogue,
    )


def _shop() -> tuple[list[tuple[str, str]], list[str]]:
    """Two clusters of customers: a* buy p0..p4, b* buy p5..p9 (each a random subset)."""
    rng = np.random.default_rng(0)
    pairs = []
    for group, first in (("a", 0), ("b", 5)):
        for c in range(30):
            for p in rng.choice(5, size=3, replace=False):
                pairs.append((f"{group}{c:02d}", f"p{first + p}"))
    return pairs, [f"p{i}" for i in range(10)]


def test_a_refresh_solves_new_customers_and_products_and_keeps_the_others():
    pairs, products = _shop()
    night1 = fit(_inputs(pairs, products), SPEC, seed=1)
    model = night1.model
    stored = StoredModel(SPEC, model, night1.users, night1.items)
    before = np.array(model.user_factors, copy=True)  # type: ignore[union-attr]

    # night 2: a new product p10 bought by some b customers, a new customer z buying b's
    tonight = [*pairs, ("b00", "p10"), ("b01", "p10"), ("b02", "p10")]
    tonight += [("z", "p5"), ("z", "p6"), ("z", "p7")]
    prepared = prepare(_inputs(tonight, [*products, "p10"]))
    translated = reuse(prepared, stored)
    assert translated.known_users is not None and translated.known_items is not None
    new_items = np.flatnonzero(~translated.known_items)
    changed = np.union1d(
        np.flatnonzero(~translated.known_users),
        prepared.users.positions(pl.Series(["b00", "b01", "b02"])),
    )
    given = np.array(translated.model.user_factors, copy=True)  # type: ignore[union-attr]
    refreshed = refresh_als(translated, prepared, changed, new_items)

    users = np.asarray(refreshed.model.user_factors)  # type: ignore[union-attr]
    items = np.asarray(refreshed.model.item_factors)  # type: ignore[union-attr]
    assert users.dtype == np.float32 and items.dtype == np.float32
    z = int(prepared.users.positions(pl.Series(["z"]))[0])
    p10 = int(prepared.items.positions(pl.Series(["p10"]))[0])
    assert np.isfinite(users).all() and np.isfinite(items).all()
    assert np.abs(users[z]).sum() > 0 and np.abs(items[p10]).sum() > 0
    # customers whose history did not change keep exactly their factors
    old_pos = night1.users.positions(prepared.users.ids)
    untouched = np.setdiff1d(np.flatnonzero(old_pos >= 0), changed)
    assert len(untouched) == 57
    assert np.array_equal(users[untouched], before[old_pos[untouched]])
    # the model it starts from is left alone (reuse itself re-indexes the stored one)
    assert np.array_equal(np.asarray(translated.model.user_factors), given)  # type: ignore[union-attr]
    # z's history is b's: b's other products (p8, p9, p10) rank above every a product
    scores = items @ users[z]
    b_rest = [int(prepared.items.positions(pl.Series([p]))[0]) for p in ("p8", "p9", "p10")]
    a_side = [int(prepared.items.positions(pl.Series([f"p{i}"]))[0]) for i in range(5)]
    assert scores[b_rest].min() > scores[a_side].max()
    # every customer and product of tonight counts as known to the refreshed model
    assert refreshed.known_users is None and refreshed.known_items is None


def test_changed_customers_are_those_with_recent_interactions():
    pairs, products = _shop()
    prepared = prepare(_inputs(pairs, products))
    frame = _inputs(pairs, products).interactions
    since = dt.datetime(2025, 5, 31)
    recent = (pl.col(C.CUSTOMER) == "a03") | (pl.col(C.CUSTOMER) == "b07")
    stamped = frame.with_columns(
        pl.when(recent).then(since).otherwise(since - dt.timedelta(days=3)).alias("last_at")
    )
    got = changed_users(prepared, stamped, since)
    assert list(prepared.users.to_external(got)) == ["a03", "b07"]
    # without timestamps every customer with history is refreshed
    assert len(changed_users(prepared, frame, since)) == len(prepared.users)


def test_refresh_keeps_an_empty_change_set_as_is():
    pairs, products = _shop()
    night1 = fit(_inputs(pairs, products), SPEC, seed=1)
    prepared = prepare(_inputs(pairs, products))
    stored = StoredModel(SPEC, night1.model, night1.users, night1.items)  # type: ignore[arg-type]
    refreshed = refresh_als(reuse(prepared, stored), prepared, np.array([]), np.array([]))
    assert np.array_equal(
        np.asarray(refreshed.model.user_factors),  # type: ignore[union-attr]
        np.asarray(night1.model.user_factors),  # type: ignore[union-attr]
    )
    assert sp.issparse(refreshed.user_items)


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(("days", "second"), [(7, "incremental"), (0, "full")])
def test_a_night_after_a_full_retrain_refreshes_the_model(small_shop, tmp_path, days, second):
    home = tmp_path / "home"
    home.mkdir()
    config = f"[als]\nfactors = 16\niterations = 8\nfull_retrain_days = {days}\n"
    (home / "offers.toml").write_text(config + "[gate]\nenabled = false\n")
    first = nightly(as_of=END - dt.timedelta(days=1), home=str(home), source=str(small_shop))
    second_run = nightly(as_of=END, home=str(home), source=str(small_shop))

    def meta(run: dict) -> dict:
        return json.loads((home / "models" / run["trained_version"] / "metadata.json").read_text())

    one, two = meta(first), meta(second_run)
    assert one["training"] == "full"
    assert two["training"] == second
    assert second_run["status"] == "succeeded"
    assert second_run["model_version"] == second_run["trained_version"]
    manifest = verify(home / "exports" / "latest")
    assert manifest["model_version"] == second_run["model_version"]
    assert Path(second_run["export"]).name == END.isoformat()
    if second == "incremental":
        assert two["refreshed_from"] == first["model_version"]
        assert two["full_retrain_as_of"] == (END - dt.timedelta(days=1)).isoformat()
        assert 0 < two["refreshed_customers"] < two["counts"]["warm_customers"]
        assert two["params"] == one["params"]
        shop = pl.read_parquet(home / "exports" / "latest" / "shop.parquet")
        assert "als" in set(shop["source"])


@pytest.mark.usefixtures("prefect_server")
def test_the_last_trained_model_is_refreshed_even_when_the_gate_did_not_publish_it(
    small_shop, tmp_path
):
    """Tonight's ALS is trained whatever the gate publishes: with a baseline in charge (here,
    night 1's model marked rejected: nothing in charge) night 2 still refreshes it."""
    home = tmp_path / "home"
    home.mkdir()
    config = "[als]\nfactors = 16\niterations = 8\nfull_retrain_days = 7\n"
    (home / "offers.toml").write_text(config + "[gate]\nenabled = false\n")
    first = nightly(as_of=END - dt.timedelta(days=1), home=str(home), source=str(small_shop))
    con = duckdb.connect(str(home / "offers.duckdb"))
    con.execute("update model_versions set status = 'rejected'")
    con.close()
    second = nightly(as_of=END, home=str(home), source=str(small_shop))
    meta = json.loads((home / "models" / second["trained_version"] / "metadata.json").read_text())
    assert meta["training"] == "incremental"
    assert meta["refreshed_from"] == first["trained_version"]

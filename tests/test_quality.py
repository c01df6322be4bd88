"""Personalisation must beat popularity on a shop with planted tastes (time-based holdout)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from helpers import END

from flows import db, sqlfiles, stages
from flows.config import load_settings
from flows.extract import extract
from models.metrics import ranking_metrics
from models.recommender import fit, recommend

HOLDOUT_DAYS = 14


def precision_at_k(lists: pl.DataFrame, truth: pl.DataFrame, k: int) -> float:
    return ranking_metrics(
        lists,
        truth,
        k,
        catalogue_size=1,
        item_popularity=pl.DataFrame({"product_id": [], "count": []}),
    )["precision"]


@pytest.fixture(scope="module")
def holdout(demo_shop, tmp_path_factory):
    """Train as of END - 14 days; the truth is what customers bought in those 14 days."""
    home = tmp_path_factory.mktemp("quality")
    settings = load_settings(home)
    extract(
        settings.database, demo_shop, run_id="r1", loaded_at=dt.datetime.combine(END, dt.time())
    )
    as_of = END - dt.timedelta(days=HOLDOUT_DAYS)
    con = db.connect(settings.database)
    try:
        history = stages.read_history(con, as_of, settings)
        truth = sqlfiles.run(
            con,
            "marts/holdout_purchases",
            {"as_of": stages.as_of_timestamp(as_of), "until": stages.as_of_timestamp(END)},
        ).pl()
    finally:
        con.close()
    fitted = fit(history.inputs, stages.model_spec(settings), seed=settings.seed)
    return fitted, truth


def test_als_beats_recent_popularity_at_10(holdout):
    fitted, truth = holdout
    assert truth.get_column("customer_id").n_unique() > 500  # enough customers to judge
    als = precision_at_k(recommend(fitted, 10), truth, 10)
    popular = precision_at_k(recommend(fitted, 10, use_model=False), truth, 10)
    assert precision_at_k(recommend(fitted, 10), truth, 10) == pytest.approx(als, rel=1e-12)
    # measured 0.0354 vs 0.0212 (+67%; before habits, complements and seasons: 0.0295 vs
    # 0.0223): ask for a clear lift, not a lucky tie
    print(f"precision@10 als {als:.4f} popular {popular:.4f}")
    assert als >= 1.15 * popular, (als, popular)
    assert popular > 0.01  # the baseline is a real one, not a straw man

"""The catalogue: categories, prices and stock, popularity (a power law per category that drifts
with seasons), consumables with their repurchase intervals, and complements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.contract import PRODUCTS
from flows.generate import params as P
from flows.generate.arrays import (
    SECONDS_PER_DAY,
    Window,
    frame,
    ids,
    labels,
    position_in_group,
    starts,
)

SHOP_URL = "https://shop.example"  # product pages <SHOP_URL>/p/<id>, pictures /img/<id>.jpg

CATEGORY_WORDS = (
    "kitchen", "garden", "books", "toys", "beauty", "sports", "electronics", "pets", "baby",
    "office", "outdoor", "tools", "music", "games", "fashion", "shoes", "jewellery", "health",
    "grocery", "home", "lighting", "bath", "bedding", "crafts", "automotive", "cycling",
    "camping", "fitness", "coffee", "tea", "wine", "snacks", "cleaning", "laundry", "storage",
    "decor", "furniture", "rugs", "art", "stationery", "phones", "computers", "audio", "cameras",
    "watches", "bags", "luggage", "eyewear", "skincare", "haircare", "fragrance", "vitamins",
    "party", "seasonal", "baking", "cookware", "tableware", "plants", "diy", "smart-home",
)  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """Products plus what sampling needs. Arrays are per product unless said otherwise."""

    frame: pl.DataFrame
    product_ids: pl.Series
    category: np.ndarray  # category index
    price: np.ndarray
    interval_days: np.ndarray  # true repurchase interval; 0 for products that are not consumables
    configured: np.ndarray  # the interval is in the products file
    complements: np.ndarray  # (products, most complements) product indexes, -1 past the count
    base_weight: np.ndarray  # power law in the category x consumable_popularity; by_category order
    season: np.ndarray  # (3, products): amplitude, period in days, phase
    category_weight: np.ndarray  # global popularity of each category (sums to 1)
    category_cdf: np.ndarray  # cumulative category_weight, last value exactly 1
    by_category: np.ndarray  # product indexes sorted by category
    sizes: np.ndarray  # products per category

    @property
    def n_categories(self) -> int:
        return len(self.category_weight)

    @property
    def n_products(self) -> int:
        return len(self.category)

    def seasonal(self, products: np.ndarray, days: np.ndarray) -> np.ndarray:
        """Each product's seasonal multiplier ``days`` after the seasons' origin."""
        amplitude, period, phase = self.season[:, products]
        return np.exp(amplitude * np.sin(2 * np.pi * days / period + phase))


@dataclass(frozen=True)
class Popularity:
    """Per-category popularity CDFs for each season step of a window (one searchsorted draws)."""

    by_category: np.ndarray
    cdf: np.ndarray  # step * categories + category + within-category cumulative popularity
    first: np.ndarray  # first position of each category in by_category
    last: np.ndarray
    n_categories: int
    start_s: int
    step_s: int
    n_steps: int

    def step(self, t_s: np.ndarray) -> np.ndarray:
        """The season step holding each time (epoch seconds)."""
        return np.clip((np.asarray(t_s) - self.start_s) // self.step_s, 0, self.n_steps - 1)

    def sample(self, categories: np.ndarray, steps: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Products drawn from each category's popularity at each step (inverse CDF)."""
        n = len(self.by_category)
        offset = steps.astype(np.int64) * n
        pos = np.searchsorted(self.cdf, steps * self.n_categories + categories + u, side="right")
        pos = np.clip(pos, self.first[categories] + offset, self.last[categories] + offset)
        return self.by_category[pos - offset]


def _within_cdf(weight: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per row of ``weight`` (products in by_category order), the cumulative share inside each
    category, the last of each category exactly 1."""
    first, last = starts(sizes), starts(sizes) + sizes - 1
    running = np.cumsum(weight, axis=1)
    before = np.repeat(running[:, first] - weight[:, first], sizes, axis=1)
    within = running - before
    within /= np.repeat(within[:, last], sizes, axis=1)
    within[:, last] = 1.0
    return within


def popularity(catalog: Catalog, window: Window) -> Popularity:
    """The catalogue's popularity over ``window``: the power law times each product's seasonal
    curve (its origin at the window's start), taken at the middle of each step."""
    sizes = catalog.sizes
    step_days = max(P.SEASON_STEP_DAYS, -(-window.days // P.MAX_SEASON_STEPS))
    n_steps = -(-window.days // step_days)
    t = (np.arange(n_steps) + 0.5)[:, None] * step_days
    weight = catalog.base_weight * catalog.seasonal(catalog.by_category, t)
    within = _within_cdf(weight, sizes)
    within += np.repeat(np.arange(len(sizes)), sizes)
    within += (np.arange(n_steps) * len(sizes))[:, None]
    first = starts(sizes)
    return Popularity(
        by_category=catalog.by_category,
        cdf=within.ravel(),
        first=first,
        last=first + sizes - 1,
        n_categories=len(sizes),
        start_s=window.start_s,
        step_s=step_days * SECONDS_PER_DAY,
        n_steps=n_steps,
    )


def _consumables(
    rng: np.random.Generator, category: np.ndarray, sizes: np.ndarray, shape: P.ShopShape
) -> tuple[np.ndarray, np.ndarray]:
    """True interval per product (0: not a consumable) and whether the file carries it."""
    n_cat, n = len(sizes), len(category)
    propensity = rng.uniform(0.2, 1.8, n_cat)  # some categories are mostly consumables
    share = np.clip(shape.consumable_share * propensity * n / (sizes @ propensity), 0.0, 1.0)
    consumable = rng.random(n) < share[category]
    lo, hi = np.log(shape.interval_median_days)
    median = np.exp(rng.uniform(lo, hi, n_cat))
    interval = np.rint(median[category] * np.exp(shape.interval_sigma * rng.standard_normal(n)))
    interval = np.clip(interval, P.MIN_INTERVAL_DAYS, P.MAX_INTERVAL_DAYS).astype(np.int64)
    configured = consumable & (rng.random(n) < shape.configured_interval_share)
    return np.where(consumable, interval, 0), configured


def _complements(
    rng: np.random.Generator,
    category: np.ndarray,
    category_cdf: np.ndarray,
    by_category: np.ndarray,
    sizes: np.ndarray,
    shape: P.ShopShape,
) -> np.ndarray:
    """(products, high) complement indexes, -1 past each product's count; never itself. A
    complement comes from another category (by global popularity) or the product's own, and is
    any product of it: complements are specific, not the bestsellers of every basket."""
    n = len(category)
    lo, hi = shape.complements
    if n < 2 or hi == 0:
        return np.full((n, max(hi, 0)), -1, dtype=np.int64)
    count = rng.integers(lo, hi + 1, n)
    other = rng.random((n, hi)) < shape.complement_other_category
    drawn = np.searchsorted(category_cdf, rng.random((n, hi)), side="right")
    target = np.where(other, np.minimum(drawn, len(sizes) - 1), category[:, None])
    offset = (rng.random((n, hi)) * sizes[target]).astype(np.int64)
    picked = by_category[starts(sizes)[target] + offset]
    own = np.arange(n)[:, None]
    picked = np.where(picked == own, (own + rng.integers(1, n, (n, hi))) % n, picked)
    return np.where(np.arange(hi) < count[:, None], picked, -1)


def build_catalog(rng: np.random.Generator, n_products: int, shape: P.ShopShape) -> Catalog:
    n_cat = min(
        int(np.clip(n_products // P.PRODUCTS_PER_CATEGORY, P.MIN_CATEGORIES, P.MAX_CATEGORIES)),
        n_products,
    )
    category_weight = rng.dirichlet(np.full(n_cat, P.CATEGORY_POPULARITY_CONCENTRATION))
    size_share = rng.dirichlet(np.full(n_cat, P.CATEGORY_SIZE_CONCENTRATION))
    sizes = 1 + rng.multinomial(n_products - n_cat, size_share)
    category_weight *= sizes**P.CATEGORY_SIZE_PULL  # bigger categories draw more traffic
    category_weight /= category_weight.sum()
    category = rng.permutation(np.repeat(np.arange(n_cat), sizes))
    category_cdf = np.cumsum(category_weight)
    category_cdf[-1] = 1.0

    # Popularity: Zipf over a random rank order inside each category, times a seasonal curve.
    by_category = np.lexsort((rng.random(n_products), category))
    exponent = rng.uniform(*P.ZIPF_EXPONENT, size=n_cat)
    base_weight = (position_in_group(sizes) + 1.0) ** -np.repeat(exponent, sizes)
    season = np.stack(
        (
            rng.uniform(*shape.season_amplitude, n_products),
            rng.uniform(*shape.season_period_days, n_products),
            rng.uniform(0.0, 2 * np.pi, n_products),
        )
    )
    price, stock, active = _stock(rng, category, n_cat)
    interval_days, configured = _consumables(rng, category, sizes, shape)
    base_weight *= np.where(interval_days[by_category] > 0, shape.consumable_popularity, 1.0)
    complements = _complements(rng, category, category_cdf, by_category, sizes, shape)
    product_ids = ids("P", np.arange(1, n_products + 1), max(6, len(str(n_products))))
    products = frame(
        PRODUCTS,
        product_ids,
        _titles(category, sizes),
        labels(_category_names(n_cat), category),
        price,
        stock,
        active,
        pl.Series(np.where(configured, interval_days, 0)).replace(0, None),
        SHOP_URL + "/p/" + product_ids,
        SHOP_URL + "/img/" + product_ids + ".jpg",
    )
    return Catalog(
        frame=products,
        product_ids=product_ids,
        category=category,
        price=price,
        interval_days=interval_days,
        configured=configured,
        complements=complements,
        base_weight=base_weight,
        season=season,
        category_weight=category_weight,
        category_cdf=category_cdf,
        by_category=by_category,
        sizes=sizes,
    )


def _stock(
    rng: np.random.Generator, category: np.ndarray, n_cat: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prices (log-normal around a median per category), stock and the active flag."""
    n = len(category)
    median = P.PRICE_MEDIAN * np.exp(P.PRICE_CATEGORY_SIGMA * rng.standard_normal(n_cat))
    price = median[category] * np.exp(P.PRICE_ITEM_SIGMA * rng.standard_normal(n))
    price = np.maximum(np.round(price, 2), 0.5)
    stock = np.where(rng.random(n) < P.OUT_OF_STOCK_SHARE, 0, rng.geometric(P.STOCK_GEOMETRIC_P, n))
    active = rng.random(n) >= P.INACTIVE_SHARE
    return price, stock, active


def _category_names(n_cat: int) -> list[str]:
    return [f"{CATEGORY_WORDS[k % len(CATEGORY_WORDS)]}-{k:02d}" for k in range(n_cat)]


def _titles(category: np.ndarray, sizes: np.ndarray) -> pl.Series:
    """'<Category word> item <n>', numbered inside each category in product order."""
    words = [CATEGORY_WORDS[k % len(CATEGORY_WORDS)] for k in range(len(sizes))]
    titles = [w.replace("-", " ").capitalize() for w in words]
    number = np.empty(len(category), dtype=np.int64)
    number[np.argsort(category, kind="stable")] = position_in_group(sizes) + 1
    return labels(titles, category) + " item " + pl.Series(number).cast(pl.String)


def planted(catalog: Catalog) -> pl.DataFrame:
    """The catalogue's hidden truth, one row per product: category, whether it is a consumable,
    its true interval, whether the products file carries it, and its complements."""
    rows, slots = np.nonzero(catalog.complements >= 0)
    complements = (
        pl.DataFrame({"row": rows, "complement": catalog.product_ids.gather(
            catalog.complements[rows, slots])})
        .group_by("row", maintain_order=True)
        .agg(pl.col("complement").unique(maintain_order=True))
    )  # fmt: skip
    return (
        pl.DataFrame(
            {
                "row": np.arange(catalog.n_products),
                "product_id": catalog.product_ids,
                "category": catalog.frame["category"],
                "consumable": catalog.interval_days > 0,
                "interval_days": catalog.interval_days,
                "configured": catalog.configured,
            }
        )
        .join(complements, on="row", how="left")
        .with_columns(pl.col("complement").fill_null([]).alias("complements"))
        .drop("row", "complement")
    )

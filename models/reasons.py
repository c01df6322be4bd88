"""Reasons: why each offer is in a list, as a code, an anchor product and a text a customer reads.

Codes, decided per row in this order (the first that applies):

1. ``new``: a discovery slot for a product nobody has interacted with yet.
2. ``restock``: a buy-again pick, or any product the customer bought before.
3. ``win_back``: every row of the re-engagement list (its own reason).
4. For a model's pick (ALS, BPR, item-item, a hybrid's explore part):
   ``goes_with``: the product is on the "goes with" list of something the customer bought
   (anchor: that product; the best-ranked pairing wins, ties by product id);
   ``bought`` / ``viewed``: the history item that contributes most to the model's score
   (``models.anchors``), bought or only viewed by the customer;
   ``for_you``: nothing in the history stands out.
5. ``popular_in_category``: the category-popularity baseline's pick.
6. ``popular``: popularity (recent or all-time), fills and cold starts.

Texts come from templates with ``{product}``, ``{anchor}`` and ``{category}`` placeholders,
filled from the catalogue (title, else id). Pure functions on polars frames.
"""

from __future__ import annotations

import re

import polars as pl

from models import columns as C

RESTOCK = "restock"
BOUGHT = "bought"
VIEWED = "viewed"
GOES_WITH = "goes_with"
POPULAR = "popular"
POPULAR_IN_CATEGORY = "popular_in_category"
NEW = "new"
FOR_YOU = "for_you"
WIN_BACK = "win_back"

DEFAULT_TEMPLATES = {
    RESTOCK: "time to restock {product}",
    BOUGHT: "because you bought {anchor}",
    VIEWED: "because you viewed {anchor}",
    GOES_WITH: "goes with your {anchor}",
    POPULAR: "popular right now",
    POPULAR_IN_CATEGORY: "popular in {category}",
    NEW: "new in {category}",
    FOR_YOU: "picked for you",
    WIN_BACK: "we have missed you: {product} is waiting",
}
# codes whose text names an anchor: a row with one of these always carries anchor_id
NEEDS_ANCHOR = frozenset({BOUGHT, VIEWED, GOES_WITH})
PLACEHOLDERS = frozenset({"product", "anchor", "category"})
POPULAR_SOURCES = frozenset({"popular", "popular_all_time", C.SOURCE_FILL, C.SOURCE_COLD_START})
ANCHOR_SOURCES = frozenset({"als", "bpr", "item_cosine", "item_bm25", "hybrid"})
_FIELD = re.compile(r"\{([^{}]*)\}")


def template_problems(templates: dict[str, str]) -> list[str]:
    """What is wrong with ``templates`` (unknown codes or placeholders, an anchor-less text
    naming {anchor}); empty when they are usable."""
    problems = []
    for code, text in templates.items():
        if code not in DEFAULT_TEMPLATES:
            problems.append(f"unknown reason code {code!r} (known: {sorted(DEFAULT_TEMPLATES)})")
            continue
        fields = set(_FIELD.findall(text))
        if fields - PLACEHOLDERS:
            problems.append(
                f"reason {code!r}: unknown placeholder(s) {sorted(fields - PLACEHOLDERS)}; "
                f"use {sorted(PLACEHOLDERS)}"
            )
        if "anchor" in fields and code not in NEEDS_ANCHOR:
            problems.append(f"reason {code!r} has no anchor product; remove {{anchor}}")
    return problems


def assign(
    rows: pl.DataFrame,
    *,
    anchors: pl.DataFrame,
    bought: pl.DataFrame,
    goes_with: pl.DataFrame,
    winback: bool = False,
) -> pl.DataFrame:
    """``rows`` (customer_id, product_id, source, ...) with ``reason`` and ``anchor_id``.

    anchors: (customer_id, product_id, anchor_id) the model's anchor of an offer (may miss
    rows). bought: (customer_id, product_id) bought before. goes_with: (product_id,
    goes_with_id, rank) pairings from ``models.crosssell``.
    """
    # only these rows' customers matter: the history of everyone else is never looked at
    who = rows.select(C.CUSTOMER).unique()
    bought_pairs = bought.join(who, on=C.CUSTOMER, how="semi").select(C.CUSTOMER, C.PRODUCT)
    bought_pairs = bought_pairs.unique()
    paired = _goes_with_anchor(rows, bought_pairs, goes_with)
    model_anchor = anchors.select(C.CUSTOMER, C.PRODUCT, pl.col(C.ANCHOR).alias("_model"))
    flagged = (
        rows.join(paired, on=[C.CUSTOMER, C.PRODUCT], how="left")
        .join(model_anchor, on=[C.CUSTOMER, C.PRODUCT], how="left")
        .join(
            bought_pairs.with_columns(pl.lit(True).alias("_bought")),
            on=[C.CUSTOMER, C.PRODUCT],
            how="left",
        )
        .join(
            bought_pairs.rename({C.PRODUCT: "_model"}).with_columns(
                pl.lit(True).alias("_anchor_bought")
            ),
            on=[C.CUSTOMER, "_model"],
            how="left",
        )
    )
    code = _code(pl.col(C.SOURCE), winback)
    anchor = (
        pl.when(pl.col(C.REASON) == GOES_WITH)
        .then(pl.col("_paired"))
        .when(pl.col(C.REASON).is_in([BOUGHT, VIEWED]))
        .then(pl.col("_model"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return (
        flagged.with_columns(code.alias(C.REASON))
        .with_columns(anchor.alias(C.ANCHOR))
        .drop("_paired", "_model", "_bought", "_anchor_bought")
    )


def _code(source: pl.Expr, winback: bool) -> pl.Expr:
    """The reason code of each row, in the order of the module docstring."""
    is_model = source.is_in(list(ANCHOR_SOURCES)) | ~source.is_in(
        [*POPULAR_SOURCES, "popular_category", C.SOURCE_NEW, "buy_again"]
    )
    code = (
        pl.when(source == C.SOURCE_NEW)
        .then(pl.lit(NEW))
        .when((source == "buy_again") | pl.col("_bought").fill_null(False))
        .then(pl.lit(RESTOCK))
        .when(pl.lit(winback))
        .then(pl.lit(WIN_BACK))
        .when(is_model & pl.col("_paired").is_not_null())
        .then(pl.lit(GOES_WITH))
        .when(is_model & pl.col("_model").is_not_null() & pl.col("_anchor_bought").fill_null(False))
        .then(pl.lit(BOUGHT))
        .when(is_model & pl.col("_model").is_not_null())
        .then(pl.lit(VIEWED))
        .when(source == "popular_category")
        .then(pl.lit(POPULAR_IN_CATEGORY))
        .when(source.is_in(list(POPULAR_SOURCES)))
        .then(pl.lit(POPULAR))
        .otherwise(pl.lit(FOR_YOU))
    )
    return code


def _goes_with_anchor(
    rows: pl.DataFrame, bought: pl.DataFrame, goes_with: pl.DataFrame
) -> pl.DataFrame:
    """(customer_id, product_id, _paired): the bought product whose "goes with" list ranks
    the offered product best (ties by that product's id)."""
    other = "goes_with_id"
    if goes_with.height == 0:
        return (
            rows.select(C.CUSTOMER, C.PRODUCT)
            .head(0)
            .with_columns(pl.lit(None, dtype=pl.String).alias("_paired"))
        )
    pairs = goes_with.select(
        pl.col(C.PRODUCT).alias("_paired"),
        pl.col(other).alias(C.PRODUCT),
        pl.col(C.RANK).alias("_gw"),
    )
    offered = rows.select(C.CUSTOMER, C.PRODUCT).unique()
    # from what each customer bought to its partners (fewer rows than from every offer)
    return (
        bought.select(C.CUSTOMER, pl.col(C.PRODUCT).alias("_paired"))
        .join(pairs, on="_paired")
        .join(offered, on=[C.CUSTOMER, C.PRODUCT], how="semi")
        .sort(C.CUSTOMER, C.PRODUCT, "_gw", "_paired")
        .unique([C.CUSTOMER, C.PRODUCT], keep="first", maintain_order=True)
        .select(C.CUSTOMER, C.PRODUCT, "_paired")
    )


def texts(
    rows: pl.DataFrame, catalogue: pl.DataFrame, templates: dict[str, str] | None = None
) -> pl.DataFrame:
    """``rows`` (with reason, anchor_id) plus ``reason_text``, each code's template filled in.

    catalogue: (product_id, title, category); a missing title reads as the product id.
    A text depends only on (reason, product, anchor): it is made once per distinct triple
    (124,000 of the 1,000,000 rows of a 50,000-customer chunk at 1M) and joined back.
    """
    keys = [C.REASON, C.PRODUCT, C.ANCHOR]
    distinct = _texts(rows.select(keys).unique(), catalogue, templates)
    return rows.join(distinct, on=keys, how="left", nulls_equal=True, maintain_order="left")


def _texts(
    rows: pl.DataFrame, catalogue: pl.DataFrame, templates: dict[str, str] | None
) -> pl.DataFrame:
    templates = {**DEFAULT_TEMPLATES, **(templates or {})}
    names = catalogue.select(
        C.PRODUCT,
        pl.coalesce(pl.col("title"), pl.col(C.PRODUCT)).alias("_product"),
        pl.col(C.CATEGORY).alias("_category"),
    )
    labelled = rows.join(names, on=C.PRODUCT, how="left").join(
        names.select(pl.col(C.PRODUCT).alias(C.ANCHOR), pl.col("_product").alias("_anchor")),
        on=C.ANCHOR,
        how="left",
    )
    fields = {
        "product": pl.coalesce("_product", C.PRODUCT),
        "anchor": pl.coalesce("_anchor", C.ANCHOR),
        "category": pl.col("_category").fill_null(""),
    }
    text = pl.lit(None, dtype=pl.String)
    for code, template in templates.items():
        text = pl.when(pl.col(C.REASON) == code).then(_fill(template, fields)).otherwise(text)
    return labelled.with_columns(text.alias(C.REASON_TEXT)).drop("_product", "_category", "_anchor")


def _fill(template: str, fields: dict[str, pl.Expr]) -> pl.Expr:
    """The template as a string expression: literal parts and placeholder columns joined."""
    parts: list[pl.Expr] = []
    last = 0
    for match in _FIELD.finditer(template):
        if match.start() > last:
            parts.append(pl.lit(template[last : match.start()]))
        parts.append(fields[match.group(1)])
        last = match.end()
    if last < len(template) or not parts:
        parts.append(pl.lit(template[last:]))
    return pl.concat_str(parts)

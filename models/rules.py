"""Invariants every published list must satisfy; checked by the flow before publishing."""

from __future__ import annotations

import polars as pl

from models import columns as C


def violations(
    lists: dict[str, pl.DataFrame],
    *,
    offerable: pl.DataFrame,
    exclusions: pl.DataFrame,
    customers: pl.DataFrame,
    limits: dict[str, int],
    not_again: dict[str, pl.DataFrame | None] | None = None,
) -> list[str]:
    """Human-readable rule violations (empty when the lists may be published).

    ``not_again``: per channel, (customer_id, product_id) pairs sent too recently to repeat.
    """
    problems: list[str] = []
    consenting = customers.filter(pl.col(C.EMAIL_CONSENT)).get_column(C.CUSTOMER).implode()
    for channel, frame in lists.items():
        blocked = frame.join(offerable.select(C.PRODUCT), on=C.PRODUCT, how="anti")
        if blocked.height:
            problems.append(
                f"{channel}: {blocked.height} offers of products not offerable "
                f"(inactive or out of stock), e.g. {blocked.row(0, named=True)}"
            )
        excluded = frame.join(exclusions, on=[C.CUSTOMER, C.PRODUCT], how="semi")
        if excluded.height:
            problems.append(
                f"{channel}: {excluded.height} offers of already-bought products, "
                f"e.g. {excluded.row(0, named=True)}"
            )
        recent = (not_again or {}).get(channel)
        if recent is not None and recent.height:
            repeated = frame.join(recent, on=[C.CUSTOMER, C.PRODUCT], how="semi")
            if repeated.height:
                problems.append(
                    f"{channel}: {repeated.height} offers sent to the same customer within the "
                    f"repeat window, e.g. {repeated.row(0, named=True)}"
                )
        dup = frame.filter(pl.struct(C.CUSTOMER, C.PRODUCT).is_duplicated())
        if dup.height:
            problems.append(f"{channel}: {dup.height} repeated customer/product rows")
        ranks = frame.group_by(C.CUSTOMER).agg(
            pl.len().alias("n"),
            pl.col(C.RANK).min().alias("lo"),
            pl.col(C.RANK).max().alias("hi"),
            pl.col(C.RANK).n_unique().alias("distinct"),
        )
        bad = ranks.filter(
            (pl.col("lo") != 1)
            | (pl.col("hi") != pl.col("n"))
            | (pl.col("distinct") != pl.col("n"))
        )
        if bad.height:
            problems.append(f"{channel}: {bad.height} customers with ranks not 1..n")
        if ranks.height and ranks.get_column("n").max() > limits[channel]:  # type: ignore[operator]
            problems.append(f"{channel}: a list is longer than {limits[channel]}")
        if frame.get_column(C.SCORE).is_nan().any() or frame.get_column(C.SCORE).is_null().any():
            problems.append(f"{channel}: missing or NaN scores")
    email = lists.get(C.CHANNEL_EMAIL)
    if email is not None:
        no_consent = email.filter(~pl.col(C.CUSTOMER).is_in(consenting))
        if no_consent.height:
            problems.append(
                f"email: {no_consent.get_column(C.CUSTOMER).n_unique()} customers without "
                "email consent have an email list"
            )
    return problems

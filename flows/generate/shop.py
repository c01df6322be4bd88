"""The entry point: one chunk of customers at a time, each from its own seeded generator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from flows.contract import CUSTOMERS, ENTITIES, EVENTS, FILE_FORMATS, ORDER_LINES, ORDERS, PRODUCTS
from flows.generate.arrays import Window
from flows.generate.browsing import PART_WIDTH, browse, draw_customers, event_frame
from flows.generate.catalogue import Catalog, Popularity, build_catalog, planted, popularity
from flows.generate.orders import checkout, follow_up, order_frames
from flows.generate.params import ShopShape
from flows.generate.writer import SingleFileWriter, contract_paths, write


@dataclass(frozen=True)
class GenerationSummary:
    """Row counts written by :func:`generate_shop`, and where."""

    customers: int
    products: int
    orders: int
    order_lines: int
    events: int
    out_dir: Path


@dataclass(frozen=True)
class _ChunkFrames:
    customers: pl.DataFrame
    orders: pl.DataFrame
    order_lines: pl.DataFrame
    events: pl.DataFrame


@dataclass(frozen=True)
class _Shop:
    """What every chunk shares."""

    catalog: Catalog
    popularity: Popularity
    window: Window
    shape: ShopShape
    customer_id_width: int


def _generate_chunk(
    rng: np.random.Generator, shop: _Shop, *, chunk_no: int, first_customer: int, n: int,
    first_order: int,
) -> _ChunkFrames:  # fmt: skip
    """All rows belonging to customers ``first_customer .. first_customer + n - 1``."""
    end_s = shop.window.end_s
    customers = draw_customers(
        rng,
        first_customer=first_customer,
        n=n,
        id_width=shop.customer_id_width,
        catalog=shop.catalog,
        window=shop.window,
        shape=shop.shape,
    )
    visits = browse(rng, customers, shop.catalog, shop.popularity, shop.window)
    sales = checkout(rng, visits, shop.catalog, shop.shape, end_s)
    origin_s = shop.popularity.start_s
    extra = follow_up(rng, sales, customers, shop.catalog, shop.shape, shop.window, origin_s)
    start_s = shop.window.start_s
    orders, lines = order_frames(first_order, customers.ids, shop.catalog, sales, extra, start_s)
    events = event_frame(chunk_no, customers.ids, shop.catalog.product_ids, visits, start_s)
    return _ChunkFrames(customers.frame(), orders, lines, events)


def _window(days: int, end: dt.date) -> Window:
    end_day = (end - dt.date(1970, 1, 1)).days
    return Window(start_day=end_day - days, end_day=end_day, days=days)


def _catalog(seed: int, products: int, shape: ShopShape) -> Catalog:
    """The catalogue draws from the first generator spawned from ``seed``; chunk ``i`` draws
    from generator ``i + 1``, so the catalogue does not depend on the chunking."""
    catalog_seed = np.random.SeedSequence(seed).spawn(1)[0]
    return build_catalog(np.random.default_rng(catalog_seed), products, shape)


def planted_products(*, products: int, seed: int, shape: ShopShape | None = None) -> pl.DataFrame:
    """The hidden truth behind the products file :func:`generate_shop` writes with the same
    ``products``, ``seed`` and ``shape``: per product its category, whether it is a consumable,
    its true repurchase interval, whether the file carries it, and its complements."""
    return planted(_catalog(seed, products, shape or ShopShape()))


def _check(out_dir: Path, fmt: str, counts: tuple[int, ...], end: dt.date) -> tuple[Path, dt.date]:
    if fmt not in FILE_FORMATS:
        raise ValueError(f"fmt must be one of {FILE_FORMATS}, not {fmt!r}")
    if min(counts) < 1:
        raise ValueError("customers, products, days and chunk_customers must be positive")
    if isinstance(end, dt.datetime):
        if end.time() != dt.time(0):
            raise ValueError(f"end must be a date (midnight), not {end!r}")
        end = end.date()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    if existing := contract_paths(out_dir) if out_dir.exists() else []:
        names = ", ".join(p.name for p in existing)
        raise ValueError(f"{out_dir} already holds contract files ({names}); refusing to overwrite")
    return out_dir, end


def generate_shop(
    out_dir: Path,
    *,
    customers: int,
    products: int,
    days: int,
    seed: int,
    end: dt.date,
    fmt: str = "parquet",
    progress: Callable[[int, int], None] | None = None,
    chunk_customers: int = 50_000,
    shape: ShopShape | None = None,
) -> GenerationSummary:
    """Write a synthetic shop (all five contract entities) under ``out_dir``.

    Layout: ``customers.<fmt>`` and ``products.<fmt>`` are single files; ``orders/``,
    ``order_lines/`` and ``events/`` hold ``part-00000.<fmt>``, ``part-00001.<fmt>``, ... with
    one part per chunk of ``chunk_customers`` customers (empty parts are not written).

    Every timestamp lies in ``[end - days, end)``, midnight UTC, as naive datetimes. The same
    arguments always give byte-identical files. ``progress(done, total)`` is called after each
    chunk of customers. ``shape`` (default :class:`ShopShape`) sets buying again, complements
    and seasons.

    Raises:
        ValueError: on invalid arguments, or when ``out_dir`` already holds contract files.
    """
    out_dir, end = _check(out_dir, fmt, (customers, products, days, chunk_customers), end)
    shape = shape or ShopShape()
    window = _window(days, end)
    catalog = _catalog(seed, products, shape)
    warm = shape.warm_up_days  # seasons run through the warm-up too
    history = Window(window.start_day - warm, window.end_day, window.days + warm)
    shop = _Shop(catalog, popularity(catalog, history), window, shape, max(7, len(str(customers))))

    out_dir.mkdir(parents=True, exist_ok=True)
    write(catalog.frame, out_dir / f"{PRODUCTS.name}.{fmt}", PRODUCTS, fmt)
    counts = _write_chunks(out_dir, shop, fmt, seed, customers, chunk_customers, progress)
    return GenerationSummary(
        customers=counts[CUSTOMERS.name],
        products=catalog.frame.height,
        orders=counts[ORDERS.name],
        order_lines=counts[ORDER_LINES.name],
        events=counts[EVENTS.name],
        out_dir=out_dir,
    )


def _write_chunks(
    out_dir: Path,
    shop: _Shop,
    fmt: str,
    seed: int,
    customers: int,
    chunk_customers: int,
    progress: Callable[[int, int], None] | None,
) -> dict[str, int]:
    """Generate and write the customers chunk by chunk; rows written per entity."""
    n_chunks = -(-customers // chunk_customers)
    chunk_seeds = np.random.SeedSequence(seed).spawn(n_chunks + 1)[1:]
    folders = {e.name: out_dir / e.name for e in (ORDERS, ORDER_LINES, EVENTS)}
    for folder in folders.values():
        folder.mkdir()
    counts = {e.name: 0 for e in ENTITIES}
    customer_writer = SingleFileWriter(out_dir / f"{CUSTOMERS.name}.{fmt}", CUSTOMERS, fmt)
    try:
        for chunk_no, chunk_seed in enumerate(chunk_seeds):
            first = chunk_no * chunk_customers
            chunk = _generate_chunk(
                np.random.default_rng(chunk_seed),
                shop,
                chunk_no=chunk_no,
                first_customer=first,
                n=min(chunk_customers, customers - first),
                first_order=counts[ORDERS.name],
            )
            customer_writer.write(chunk.customers)
            counts[CUSTOMERS.name] += chunk.customers.height
            for entity, frame in (
                (ORDERS, chunk.orders),
                (ORDER_LINES, chunk.order_lines),
                (EVENTS, chunk.events),
            ):
                if frame.height:
                    part = folders[entity.name] / f"part-{chunk_no:0{PART_WIDTH}d}.{fmt}"
                    write(frame, part, entity, fmt)
                    counts[entity.name] += frame.height
            del chunk
            if progress is not None:
                progress(counts[CUSTOMERS.name], customers)
    finally:
        customer_writer.close()
    return counts

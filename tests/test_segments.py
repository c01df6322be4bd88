"""Customer segments and channel eligibility (models/segments.py), the activity mart
(sql/marts/customer_activity.sql) and the flows-side reader (flows/segmenting.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from helpers import ts, write_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import db, segmenting
from flows.config import SegmentSettings, Settings, load_settings
from flows.errors import ConfigError
from flows.extract import extract
from models import columns as C
from models.segments import SEGMENTS, SegmentRules, email_eligible, segments, winback_customers

AS_OF = dt.date(2025, 7, 1)
RULES = SegmentRules()
SCHEMA = {
    C.CUSTOMER: pl.String,
    "signup_date": pl.Date,
    "first_order_at": pl.Datetime("us"),
    "last_order_at": pl.Datetime("us"),
    "orders_365": pl.Int64,
    "revenue_365": pl.Float64,
    "last_visit_at": pl.Datetime("us"),
}


def ago(days: int | None, hour: int = 12) -> dt.datetime | None:
    """A moment ``days`` calendar days before AS_OF (None stays None)."""
    if days is None:
        return None
    return dt.datetime.combine(AS_OF - dt.timedelta(days=days), dt.time(hour))


def customer(
    cid: str,
    *,
    signup: int = 400,
    first: int | None = None,
    last: int | None = None,
    orders: int = 0,
    revenue: float = 0.0,
    visit: int | None = None,
) -> dict:
    """One activity row; ``first`` defaults to ``last`` (a single order)."""
    return {
        C.CUSTOMER: cid,
        "signup_date": AS_OF - dt.timedelta(days=signup),
        "first_order_at": ago(first if first is not None else last),
        "last_order_at": ago(last),
        "orders_365": orders,
        "revenue_365": revenue,
        "last_visit_at": ago(visit),
    }


def activity(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA)


def segment_of(frame: pl.DataFrame, rules: SegmentRules = RULES) -> dict[str, str]:
    return dict(segments(frame, AS_OF, rules).select(C.CUSTOMER, C.SEGMENT).rows())


# --- known answers ---------------------------------------------------------------------------


def test_new_is_first_order_or_signup_at_most_new_days_ago():
    got = segment_of(
        activity(
            customer("first30", first=30, last=5, orders=2, revenue=10.0),
            customer("first31", first=31, last=5, orders=2, revenue=10.0),
            customer("signup30", signup=30),
            customer("signup31", signup=31),
            # an old signup whose first order is recent is new; a recent signup who ordered
            # long ago (data before signup) is judged by the order
            customer("late_buyer", signup=300, first=3, last=3, orders=1),
        )
    )
    assert got == {
        "first30": "new",
        "first31": "active",
        "signup30": "new",
        "signup31": "prospect",
        "late_buyer": "new",
    }


def test_active_lapsing_lost_boundaries():
    got = segment_of(
        activity(
            customer("d1", first=400, last=1, orders=1),
            customer("d60", first=400, last=60, orders=1),
            customer("d61", first=400, last=61, orders=1),
            customer("d180", first=400, last=180, orders=1),
            customer("d181", first=400, last=181, orders=0),
            customer("d900", first=900, last=900),
        )
    )
    assert got == {
        "d1": "active",
        "d60": "active",
        "d61": "lapsing",
        "d180": "lapsing",
        "d181": "lost",
        "d900": "lost",
    }


def test_days_are_whole_calendar_days_and_null_where_unknown():
    cut = dt.datetime.combine(AS_OF, dt.time())
    late = customer("late", last=1, orders=1) | {
        "first_order_at": cut - dt.timedelta(days=1),  # D - 1 at midnight: 1 day
        "last_order_at": cut - dt.timedelta(days=1),
        "last_visit_at": cut - dt.timedelta(microseconds=1),  # D - 1 at 23:59:59.999999: 1 day
    }
    got = segments(activity(late, customer("never", signup=100)), AS_OF, RULES)
    assert got.schema[C.SEGMENT] == pl.String
    assert got.schema["days_since_order"] == pl.Int32
    assert got.schema["days_since_visit"] == pl.Int32
    assert got.rows() == [("late", "new", 1, 1), ("never", "prospect", None, None)]


def _pool(n: int, revenue: float = 10.0, orders: int = 5) -> list[dict]:
    """``n`` active customers p00.. with the same revenue (filler for the VIP pool)."""
    return [
        customer(f"p{i:02d}", first=300, last=10, orders=orders, revenue=revenue) for i in range(n)
    ]


def test_vip_is_the_top_share_of_the_active_pool_ties_by_customer_id():
    # 40 active customers -> floor(0.05 * 40) = 2 VIP slots
    frame = activity(
        customer("a_top", first=300, last=60, orders=3, revenue=500.0),  # exactly active_days
        customer("z_tie", first=300, last=5, orders=4, revenue=200.0),
        customer("b_tie", first=300, last=5, orders=4, revenue=200.0),
        customer("m_tie", first=300, last=5, orders=4, revenue=200.0),
        # rich but outside the pool: neither VIP nor counted in it
        customer("lapsing_rich", first=300, last=61, orders=9, revenue=9_999.0),
        *_pool(37),
    )
    got = segment_of(frame)
    assert [c for c, s in got.items() if s == "vip"] == ["a_top", "b_tie"]
    assert got["m_tie"] == got["z_tie"] == "active"
    assert got["lapsing_rich"] == "lapsing"


def test_vip_needs_min_orders_and_a_missing_slot_is_not_refilled():
    frame = activity(
        customer("few", first=300, last=5, orders=2, revenue=900.0),  # top but 2 orders
        customer("three", first=300, last=5, orders=3, revenue=800.0),  # exactly vip_min_orders
        customer("third", first=300, last=5, orders=9, revenue=700.0),  # third: no slot
        *_pool(37),
    )
    got = segment_of(frame)
    assert got["few"] == "active"
    assert got["three"] == "vip"
    assert got["third"] == "active"
    assert sum(s == "vip" for s in got.values()) == 1


def test_vip_slots_are_rounded_down_and_come_before_new():
    small = activity(*_pool(19, revenue=100.0))  # floor(0.05 * 19) = 0
    assert set(segment_of(small).values()) == {"active"}
    newcomer = customer("newbie", signup=20, first=20, last=2, orders=3, revenue=10_000.0)
    assert segment_of(activity(newcomer, *_pool(19)))["newbie"] == "vip"
    everyone = SegmentRules(vip_share=1.0, vip_min_orders=0)
    assert set(segment_of(activity(*_pool(3, orders=0)), everyone).values()) == {"vip"}
    nobody = SegmentRules(vip_share=0.0)
    assert "vip" not in segment_of(activity(newcomer, *_pool(19)), nobody).values()


def test_rules_refuse_inconsistent_thresholds():
    with pytest.raises(ValueError, match="active_days"):
        SegmentRules(active_days=200, lapsing_days=180)
    with pytest.raises(ValueError, match="vip_share"):
        SegmentRules(vip_share=1.5)


CUSTOMERS = pl.DataFrame(
    {
        C.CUSTOMER: ["seen6", "seen7", "seen30", "never_seen", "unknown", "no_consent"],
        C.EMAIL_CONSENT: [True, True, True, True, True, False],
    }
)
ACTIVITY = activity(
    customer("seen6", first=100, last=100, orders=1, visit=6),
    customer("seen7", first=100, last=100, orders=1, visit=7),
    customer("seen30", first=100, last=100, orders=1, visit=30),
    customer("never_seen", signup=100),
    customer("no_consent", first=100, last=100, orders=1, visit=100),
)


def test_email_needs_consent():
    got = email_eligible(CUSTOMERS, segments(ACTIVITY, AS_OF, RULES), 0)
    assert got.to_list() == ["never_seen", "seen30", "seen6", "seen7", "unknown"]


def test_email_min_days_since_visit_keeps_customers_not_seen_for_that_long():
    got = email_eligible(CUSTOMERS, segments(ACTIVITY, AS_OF, RULES), 7)
    # seen 7 days ago: eligible (at least 7); 6 days: not; never seen or unknown: eligible
    assert got.to_list() == ["never_seen", "seen30", "seen7", "unknown"]


def test_winback_is_consenting_lapsing_customers():
    frame = activity(
        customer("lapsing_yes", first=100, last=100, orders=1),
        customer("lapsing_no", first=100, last=61, orders=1),
        customer("active", first=100, last=60, orders=1),
        customer("lost", first=300, last=300, orders=1),
    )
    consent = pl.DataFrame(
        {
            C.CUSTOMER: ["lapsing_yes", "lapsing_no", "active", "lost"],
            C.EMAIL_CONSENT: [True, False, True, True],
        }
    )
    assert winback_customers(segments(frame, AS_OF, RULES), consent).to_list() == ["lapsing_yes"]


# --- properties ------------------------------------------------------------------------------


@st.composite
def activities(draw: st.DrawFn) -> tuple[pl.DataFrame, SegmentRules, list[int]]:
    n = draw(st.integers(0, 40))
    rows = []
    for i in range(n):
        last = draw(st.none() | st.integers(1, 800))
        rows.append(
            customer(
                f"c{i:02d}",
                signup=draw(st.integers(1, 900)),
                first=None if last is None else last + draw(st.integers(0, 300)),
                last=last,
                orders=0 if last is None else draw(st.integers(0, 6)),
                revenue=0.0 if last is None else draw(st.sampled_from([0.0, 10.0, 55.5, 100.0])),
                visit=draw(st.none() | st.integers(0, 400)),
            )
        )
    active = draw(st.integers(0, 200))
    rules = SegmentRules(
        new_days=draw(st.integers(0, 100)),
        active_days=active,
        lapsing_days=active + draw(st.integers(0, 300)),
        vip_share=draw(st.sampled_from([0.0, 0.05, 0.2, 0.5, 1.0])),
        vip_min_orders=draw(st.integers(0, 5)),
    )
    return activity(*rows), rules, draw(st.permutations(range(n)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(activities())
def test_every_customer_gets_one_segment_as_a_pure_function(case):
    frame, rules, order = case
    got = segments(frame, AS_OF, rules)
    assert got.get_column(C.CUSTOMER).to_list() == sorted(frame.get_column(C.CUSTOMER))
    assert got.get_column(C.SEGMENT).is_in(list(SEGMENTS)).all()
    assert got.get_column(C.SEGMENT).null_count() == 0
    # same input, same output; the order of the input rows does not matter
    assert got.equals(segments(frame, AS_OF, rules))
    shuffled = frame[order] if order else frame
    assert got.equals(segments(shuffled, AS_OF, rules))
    # each segment is consistent with its thresholds
    days = got.get_column("days_since_order")
    for seg, since in zip(got.get_column(C.SEGMENT), days, strict=True):
        if seg == "prospect":
            assert since is None
        elif seg in ("vip", "active"):
            assert since is not None and since <= rules.active_days
        elif seg == "lapsing":
            assert since is not None and rules.active_days < since <= rules.lapsing_days
        elif seg == "lost":
            assert since is not None and since > rules.lapsing_days
    pool = int(((days.is_not_null()) & (days <= rules.active_days)).sum())
    assert (got.get_column(C.SEGMENT) == "vip").sum() <= int(rules.vip_share * pool + 1e-9)


# --- settings --------------------------------------------------------------------------------


def test_settings_give_the_rules_and_refuse_bad_ones(tmp_path: Path):
    assert Settings().segments.rules() == SegmentRules()
    assert Settings().segments.winback_k == 5
    assert Settings().segments.email_min_days_since_visit == 0
    custom = SegmentSettings(new_days=10, vip_share=0.1)
    assert custom.rules() == SegmentRules(new_days=10, vip_share=0.1)
    (tmp_path / "offers.toml").write_text("[segments]\nactive_days = 200\nlapsing_days = 100\n")
    with pytest.raises(ConfigError, match="active_days"):
        load_settings(tmp_path)


# --- the mart on a tiny database -------------------------------------------------------------

MART_AS_OF = dt.date(2025, 4, 1)
MART_ORDERS = [  # order_id, customer, ordered_at, status, [(product, quantity, unit_price)]
    ("o1", "a", "2024-03-01 10:00:00", "completed", [("p3", 1, 8.0)]),  # before the window
    ("o2", "a", "2025-01-10 10:00:00", "completed", [("p1", 2, 10.0), ("p2", 1, 5.0)]),
    ("o3", "a", "2025-02-01 10:00:00", "return", [("p1", 1, 10.0)]),  # half of p1 back
    ("o4", "a", "2025-03-31 23:59:59", "completed", [("p2", 1, 5.0)]),
    ("o5", "a", "2025-04-01 00:00:00", "completed", [("p1", 5, 100.0)]),  # at the cut
    ("o6", "a", "2025-03-15 10:00:00", "cancelled", [("p1", 3, 10.0)]),
    ("o7", "b", "2024-12-01 10:00:00", "completed", [("p2", 3, 5.0)]),
    ("o8", "b", "2025-03-01 10:00:00", "return", [("p2", 5, 5.0)]),  # more than bought
    ("o9", "b", "2025-03-20 10:00:00", "cancelled", [("p1", 1, 10.0)]),
    ("o10", "b", "2024-04-01 00:00:00", "completed", [("p3", 1, 8.0)]),  # first instant
    ("o11", "b", "2024-03-31 23:59:59", "completed", [("p3", 1, 8.0)]),  # just before it
]
MART_EVENTS = [  # customer, product, type, at
    ("a", "p1", "view", "2025-03-30 09:00:00"),
    ("a", "p2", "view", "2025-04-02 09:00:00"),  # after the cut
    ("b", "p1", "add_to_cart", "2025-02-01 09:00:00"),
    ("c", "p1", "view", "2025-03-25 10:00:00"),
    ("c", "p2", "view", "2025-04-01 00:00:00"),  # at the cut
]


def mart_frames() -> dict[str, pl.DataFrame]:
    """a: orders in and before the window, a half return, an order at the cut; b: an order on
    the window's first instant and one just before it, a return of more than bought, a
    cancelled order as its latest visit; c: browsing only; d: signs up on the as-of date;
    e: nothing at all."""
    customers = pl.DataFrame(
        {
            C.CUSTOMER: ["a", "b", "c", "d", "e"],
            C.EMAIL_CONSENT: [True, True, False, True, True],
            "signup_date": [
                dt.date(2024, 1, 1),
                dt.date(2024, 1, 1),
                dt.date(2025, 3, 20),
                dt.date(2025, 4, 1),
                dt.date(2024, 1, 1),
            ],
            "country": ["DE"] * 5,
        }
    )
    products = pl.DataFrame(
        {
            C.PRODUCT: ["p1", "p2", "p3"],
            "title": ["One", "Two", "Three"],
            C.CATEGORY: ["x", "x", "y"],
            "price": [10.0, 5.0, 8.0],
            "stock": [9, 9, 9],
            "active": [True, True, True],
            "repurchase_interval_days": [None, None, None],
        },
        schema_overrides={"stock": pl.Int32, "repurchase_interval_days": pl.Int32},
    )
    return {
        "customers": customers,
        "products": products,
        "orders": pl.DataFrame(
            {
                "order_id": [o[0] for o in MART_ORDERS],
                C.CUSTOMER: [o[1] for o in MART_ORDERS],
                "ordered_at": [ts(o[2]) for o in MART_ORDERS],
                "status": [o[3] for o in MART_ORDERS],
            }
        ),
        "order_lines": pl.DataFrame(
            [
                (o[0], n, p, q, price)
                for o in MART_ORDERS
                for n, (p, q, price) in enumerate(o[4], start=1)
            ],
            schema={
                "order_id": pl.String,
                "line_no": pl.Int32,
                C.PRODUCT: pl.String,
                "quantity": pl.Int32,
                "unit_price": pl.Float64,
            },
            orient="row",
        ),
        "events": pl.DataFrame(
            {
                C.CUSTOMER: [e[0] for e in MART_EVENTS],
                C.PRODUCT: [e[1] for e in MART_EVENTS],
                "event_type": [e[2] for e in MART_EVENTS],
                "occurred_at": [ts(e[3]) for e in MART_EVENTS],
                "session_id": [f"s{i}" for i in range(len(MART_EVENTS))],
            }
        ),
    }


@pytest.fixture
def mart_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    source = write_source(tmp_path / "src", mart_frames(), fmt="parquet")
    extract(home / "offers.duckdb", source, run_id="r1", loaded_at=dt.datetime(2025, 4, 10))
    return home


def test_customer_activity_mart_sees_only_history_before_the_cut(mart_home: Path):
    con = db.connect(mart_home / "offers.duckdb")
    try:
        got = segmenting.customer_activity(con, MART_AS_OF)
    finally:
        con.close()
    assert got.columns == list(SCHEMA)
    assert got.schema["signup_date"] == pl.Date
    assert got.schema["revenue_365"] == pl.Float64
    assert got.rows() == [
        # o2 + o4 in the window (o1 before it, o5 at the cut, o6 cancelled): p1 20 x kept 1/2,
        # p2 5 + 5; latest visit the order at 23:59:59 (the view after the cut is not seen)
        (
            "a",
            dt.date(2024, 1, 1),
            ts("2024-03-01 10:00:00"),
            ts("2025-03-31 23:59:59"),
            2,
            20.0,
            ts("2025-03-31 23:59:59"),
        ),
        # o10 (first instant of the window) and o7 count; p2 fully returned; o11 is before the
        # window; the cancelled o9 is the latest visit (the return o8 is not a visit)
        (
            "b",
            dt.date(2024, 1, 1),
            ts("2024-03-31 23:59:59"),
            ts("2024-12-01 10:00:00"),
            2,
            8.0,
            ts("2025-03-20 10:00:00"),
        ),
        ("c", dt.date(2025, 3, 20), None, None, 0, 0.0, ts("2025-03-25 10:00:00")),
        ("e", dt.date(2024, 1, 1), None, None, 0, 0.0, None),
    ]


def test_customer_segments_reads_the_mart_and_applies_the_configured_rules(mart_home: Path):
    settings = load_settings(mart_home)
    con = db.connect(settings.database)
    try:
        got = segmenting.customer_segments(con, MART_AS_OF, settings)
    finally:
        con.close()
    assert got.rows() == [
        ("a", "active", 1, 1),
        ("b", "lapsing", 121, 12),
        ("c", "new", None, 7),
        ("e", "prospect", None, None),
    ]

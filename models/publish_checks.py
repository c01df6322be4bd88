"""Publish checks: should tonight's lists replace the previous night's? Decided on counts, the
same way every time, before anything is published.

The flow gathers, per channel, tonight's and the previous published night's statistics (the
customers with a list and the rows) and the *drift* of tonight's lists against the previous
night's. ``evaluate`` turns them into one ``CheckResult`` per check:

* ``customers_served``: customers with a shop list (everyone served gets one) fell by more than
  ``max_customer_drop`` (a share, default 0.5) against the previous night: a truncated source
  file or a broken signup date, not a real shop losing half its customers overnight;
* ``nonempty_<channel>``: a channel that had lists the previous night has none tonight; the
  shop channel must never be empty, previous night or not;
* ``drift_shop``: more than ``max_drift`` (default 0.95) of tonight's shop rows are new.

**Drift**, per channel: take the customers with a list in that channel on both nights; of
tonight's rows of those customers, the share whose (customer, channel, product) is not in the
previous night's list of that channel. Ranks and scores do not count, only membership; customers
new tonight or gone since are left out (``customers_served`` watches them). 0 means every list
kept its products, 1 means every product of every continuing customer changed.

Only the shop's drift is checked. Lists legitimately change every night: email and winback
rotate on purpose (a product e-mailed within ``offers.email_repeat_days`` is not e-mailed again,
so their drift is near 1 by design); in the shop the discovery slots, stock-outs, buy-again due
dates and tonight's popularity move products, and a gate verdict that changes the model in
charge can replace most of a list in one night. What is nearly never legitimate is a complete
replacement, which is what a re-keyed product or customer id (lists attached to the wrong
customers) looks like: hence 0.95, i.e. fewer than one product in twenty kept on average.

Checks that need the previous night pass, with a note, when there is none (the first run, or
the first date of a backfill) or when no customer has a list both nights.

No I/O here: counts in, results out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

SHOP = "shop"
CUSTOMERS_SERVED = "customers_served"
NONEMPTY = "nonempty_"
DRIFT = "drift_"


@dataclass(frozen=True)
class ChannelStats:
    """One channel on one night: customers with a list, and rows (offers)."""

    customers: int
    rows: int


@dataclass(frozen=True)
class Drift:
    """Tonight's lists of one channel against the previous night's (see the module doc).

    customers: customers with a list in the channel on both nights; rows: tonight's rows of
    those customers; new_rows: of those, the rows whose product was not in their list.
    """

    customers: int
    rows: int
    new_rows: int

    @property
    def share(self) -> float | None:
        """Share of ``rows`` that are new; None when nobody has a list both nights."""
        return self.new_rows / self.rows if self.rows else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "share": self.share}


@dataclass(frozen=True)
class Thresholds:
    """``flows.config.PublishSettings``."""

    max_customer_drop: float = 0.5
    max_drift: float = 0.95


@dataclass(frozen=True)
class CheckResult:
    """One check: passed or not, the measured value against its threshold, and why."""

    name: str
    passed: bool
    value: float | None
    threshold: float | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(
    tonight: dict[str, ChannelStats],
    previous: dict[str, ChannelStats] | None,
    drift: dict[str, Drift] | None = None,
    thresholds: Thresholds = Thresholds(),
) -> list[CheckResult]:
    """Every publish check, in a fixed order: customers served, each channel not empty (shop
    first, then by name), the shop's drift. ``previous``: None when there is no previous
    published night; a channel missing from a dict has no lists that night."""
    channels = sorted(set(tonight) | set(previous or {}) | {SHOP}, key=lambda c: (c != SHOP, c))
    return [
        customers_served(tonight, previous, thresholds.max_customer_drop),
        *(nonempty(channel, tonight, previous) for channel in channels),
        shop_drift(previous, (drift or {}).get(SHOP), thresholds.max_drift),
    ]


def _customers(stats: dict[str, ChannelStats] | None, channel: str) -> int:
    found = (stats or {}).get(channel)
    return found.customers if found is not None else 0


def customers_served(
    tonight: dict[str, ChannelStats], previous: dict[str, ChannelStats] | None, max_drop: float
) -> CheckResult:
    """Customers with a shop list fell by more than ``max_drop`` (a share of last night's)."""
    now = _customers(tonight, SHOP)
    if previous is None:
        return CheckResult(
            CUSTOMERS_SERVED, True, None, max_drop, f"{now:,} customers; no previous night"
        )
    before = _customers(previous, SHOP)
    if before == 0:
        return CheckResult(
            CUSTOMERS_SERVED, True, None, max_drop, f"{now:,} customers; none the previous night"
        )
    drop = (before - now) / before
    passed = drop <= max_drop
    change = (now - before) / before
    message = (
        f"{now:,} customers with a shop list against {before:,} the previous night ({change:+.1%})"
    )
    if not passed:
        message += f": fell by more than {max_drop:.0%}"
    return CheckResult(CUSTOMERS_SERVED, passed, drop, max_drop, message)


def nonempty(
    channel: str, tonight: dict[str, ChannelStats], previous: dict[str, ChannelStats] | None
) -> CheckResult:
    """A channel with lists the previous night (the shop: always) has lists tonight."""
    now, before = _customers(tonight, channel), _customers(previous, channel)
    required = channel == SHOP or before > 0
    name = f"{NONEMPTY}{channel}"
    if now > 0:
        return CheckResult(name, True, float(now), 1.0, f"{now:,} customers with a list")
    if not required:
        why = "no previous night" if previous is None else "none the previous night either"
        return CheckResult(name, True, 0.0, None, f"no lists tonight; {why}")
    why = (
        "the shop list must never be empty"
        if channel == SHOP and before == 0
        else f"{before:,} customers had one the previous night"
    )
    return CheckResult(name, False, 0.0, 1.0, f"no {channel} lists tonight: {why}")


def shop_drift(
    previous: dict[str, ChannelStats] | None, drift: Drift | None, max_drift: float
) -> CheckResult:
    """More than ``max_drift`` of the continuing customers' shop rows are new tonight."""
    name = f"{DRIFT}{SHOP}"
    if previous is None:
        return CheckResult(name, True, None, max_drift, "no previous night to compare with")
    share = drift.share if drift is not None else None
    if drift is None or share is None:
        return CheckResult(name, True, None, max_drift, "no customer has a shop list both nights")
    passed = share <= max_drift
    message = (
        f"{share:.1%} of {drift.rows:,} shop offers to {drift.customers:,} customers listed "
        f"both nights are new"
    )
    if not passed:
        message += f": more than {max_drift:.0%} (lists replaced, not rotated)"
    return CheckResult(name, passed, share, max_drift, message)


def failed(results: list[CheckResult]) -> list[CheckResult]:
    """The checks that did not pass, in order."""
    return [r for r in results if not r.passed]

"""The run report (``flows.run_report``) as markdown: ``report.md`` in the export, in
``<home>/reports/`` for a run the publish checks stopped, and the Prefect artifact."""

from __future__ import annotations

from typing import Any

from models import gate
from models import publish_checks as checks

OUTCOMES = {
    "published": "**Published.** Every publish check passed.",
    "forced": "**Published with --force-publish** although publish checks failed: {failed}.",
    "stopped": "**Stopped: nothing published**, the previous export stays. Failed publish "
    "checks: {failed}. Re-run with --force-publish to publish anyway.",
}


def _table(header: list[str], rows: list[list[Any]], right: set[int] | None = None) -> list[str]:
    """A GitHub markdown table; columns in ``right`` (default: all but the first) right-aligned."""
    right = set(range(1, len(header))) if right is None else right
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return lines


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _check_value(name: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if name.startswith(checks.NONEMPTY) else f"{value:.1%}"


def _checks(report: dict[str, Any]) -> list[str]:
    rows = [
        [
            c["name"],
            "pass" if c["passed"] else "**FAIL**",
            _check_value(c["name"], c["value"]),
            _check_value(c["name"], c["threshold"]),
            c["message"],
        ]
        for c in report["checks"]
    ]
    lines = ["## Publish checks", ""]
    previous = report.get("previous")
    lines.append(
        f"Against the previous published night, {previous['as_of']}."
        if previous
        else "No previous published night: the checks that compare with it pass."
    )
    return [*lines, "", *_table(["check", "result", "value", "threshold", "detail"], rows, {2, 3})]


def _extract(report: dict[str, Any]) -> list[str]:
    header = ["entity", "read", "inserted", "updated", "unchanged", "quarantined", "refused"]
    keys = ["rows_read", "inserted", "updated", "unchanged", "quarantined", "refused"]
    loads = report["extract"]
    rows = [[load["entity"], *(f"{load.get(k, 0):,}" for k in keys)] for load in loads]
    lines = ["## Extract", "", *_table(header, rows)]
    reasons = [
        f"- {load['entity']}: "
        + ", ".join(f"{why} {n:,}" for why, n in sorted(load["reasons"].items()))
        for load in loads
        if load.get("reasons")
    ]
    if reasons:
        lines += ["", "Quarantined, by reason:", "", *reasons]
    return lines


def _history(report: dict[str, Any]) -> list[str]:
    n = report["counts"]
    lines = [
        "## History and model",
        "",
        f"{n['customers']:,} customers ({n['warm_customers']:,} with history) x "
        f"{n['products']:,} products, {n['interactions']:,} interactions.",
    ]
    verdict = report.get("gate")
    if verdict:
        lines += ["", "```", *gate.describe(verdict), "```"]
    return lines


def _offers(report: dict[str, Any]) -> list[str]:
    rows = [
        [
            channel,
            f"{o['offers']:,}",
            f"{o['customers']:,}",
            ", ".join(f"{k} {v:,}" for k, v in o["sources"].items()),
        ]
        for channel, o in report["offers"].items()
    ]
    c = report["coverage"]
    lines = [
        "## Offers",
        "",
        *_table(["channel", "offers", "customers", "by source"], rows, {1, 2}),
        "",
        f"Coverage: {_share(c['shop'])} of {c['served_customers']:,} served customers have a "
        f"shop list; {_share(c['email'])} of {c['email_eligible']:,} e-mail eligible customers "
        f"have an email or winback list ({c['emailed_customers']:,}).",
    ]
    goes_with = report.get("goes_with")
    if goes_with:
        lines += [
            "",
            f"Goes with: {goes_with['rows']:,} rows for {goes_with['products']:,} products.",
        ]
    return lines


def _drift(report: dict[str, Any]) -> list[str]:
    previous = report.get("previous")
    if not previous:
        return []
    before = previous["channels"]
    channels = sorted(set(before) | set(report["offers"]), key=lambda c: (c != "shop", c))
    rows = []
    for ch in channels:
        then, now = before.get(ch, {}), report["offers"].get(ch, {})
        d = report["drift"].get(ch, {})
        rows.append(
            [ch, f"{then.get('customers', 0):,}", f"{now.get('customers', 0):,}",
             f"{then.get('rows', 0):,}", f"{now.get('offers', 0):,}",
             f"{d.get('customers', 0):,}", f"{d.get('new_rows', 0):,}", _share(d.get("share"))]
        )  # fmt: skip
    header = ["channel", "customers before", "tonight", "offers before", "tonight",
              "listed both nights", "new offers", "drift"]  # fmt: skip
    return [
        f"## Against {previous['as_of']}",
        "",
        "Drift: of tonight's offers to customers listed in the channel both nights, the share "
        "whose product was not in their list the previous night (email and winback rotate by "
        "design; only the shop's drift is checked).",
        "",
        *_table(header, rows),
    ]


def _stages(report: dict[str, Any]) -> list[str]:
    rows = [[stage, f"{s:.2f}"] for stage, s in report["timings_s"].items()]
    return [
        "## Stages",
        "",
        *_table(["stage", "seconds"], rows),
        "",
        f"Peak memory: {report['peak_memory_mb']:,.0f} MB (resident, so far; the publish "
        "stage runs after this report is written).",
    ]


def render(report: dict[str, Any]) -> str:
    """The whole report as markdown."""
    failed = ", ".join(report["checks_failed"]) or "none"
    parts = [
        [
            f"# Offers run {report['run_id']}, as of {report['as_of']}",
            "",
            OUTCOMES[report["outcome"]].format(failed=failed),
        ],
        _checks(report),
        _extract(report),
        _history(report),
        _offers(report),
        _drift(report),
        _stages(report),
    ]
    return "\n\n".join("\n".join(p) for p in parts if p) + "\n"

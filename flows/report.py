"""Evaluation reports: a JSON file with every number and a small self-contained HTML page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

BAR_W, ROW_H = 420, 22


def _bars(title: str, rows: list[tuple[str, float]], fmt: str) -> str:
    """A horizontal bar chart as inline SVG (no plotting library, no network)."""
    top = max((abs(v) for _, v in rows), default=1.0) or 1.0
    height = ROW_H * len(rows) + 30
    parts = [
        f'<svg width="{BAR_W + 260}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="0" y="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(rows):
        y = 24 + i * ROW_H
        width = max(1.0, BAR_W * abs(value) / top)
        colour = "#3b7dd8" if value >= 0 else "#d8583b"
        parts += [
            f'<text x="0" y="{y + 14}">{html.escape(label)}</text>',
            f'<rect x="180" y="{y}" width="{width:.1f}" height="{ROW_H - 6}" fill="{colour}"/>',
            f'<text x="{184 + width:.1f}" y="{y + 14}">{format(value, fmt)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts)


def write_report(folder: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "report.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
    main = report["main"]
    scores = [(c, s) for c, s in report["main_scores"].items()]
    scores.sort(key=lambda kv: -kv[1])
    lifts = [(c, v) for c, v in report["lift_over_popular"].items()]
    lifts.sort(key=lambda kv: -kv[1])
    header = (
        f"as of {report['as_of']}, trained before {report['cut']}, judged on "
        f"{report['holdout_days']} days ({report['judged_customers']} customers who bought)"
    )
    table_rows = "\n".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(r[c]) if not isinstance(r[c], float) else f'{r[c]:.4f}')}</td>"
            for c in report["table_columns"]
        )
        + "</tr>"
        for r in report["table"]
    )
    mix_rows = "\n".join(
        f"<tr><td>{html.escape(str(m['channel']))}</td>"
        f"<td>{m['truth_repeat_share']:.4f}</td><td>{m['customers_repeat']:,.0f}</td>"
        f"<td>{m['customers_explore']:,.0f}</td></tr>"
        for m in report.get("truth_mix", [])
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>offers evaluation {report["as_of"]}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}</style></head><body>
<h1>Offer quality, {html.escape(header)}</h1>
{_bars(f"{main} on purchases, shop list", scores, ".4f")}
{_bars(f"lift of {main} over recent popularity", lifts, "+.1%")}
<h2>All metrics (shop and email lists, purchases)</h2>
<table><tr>{"".join(f"<th>{html.escape(c)}</th>" for c in report["table_columns"])}</tr>
{table_rows}</table>
<p>repeat_share: share of the hits that the customer had bought before the cut;
explore_recall / repeat_recall: recall on the purchases of products new to the customer /
bought before, averaged over the customers who made such a purchase.</p>
<h2>Buying again or buying new: holdout purchases, the same for every candidate</h2>
<table><tr><th>channel</th><th>truth_repeat_share</th><th>customers_repeat</th>
<th>customers_explore</th></tr>
{mix_rows}</table>
<p>{html.escape(report.get("note", ""))}</p>
</body></html>
"""
    html_path = folder / "report.html"
    html_path.write_text(page)
    return json_path, html_path

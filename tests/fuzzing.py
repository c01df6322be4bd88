"""Hostile source files: Hypothesis strategies that damage one entity's CSV of a valid shop.

Each case must end in a clean load (every data row counted: stored, updated, unchanged or
quarantined with a reason), or a one-line SourceError naming the file; never another
exception, a silent drop or a partial load. Used by tests/test_fuzz_sources.py (bounded, in
CI) and `make fuzz` (10,000+ cases).
"""

from __future__ import annotations

import csv
import io

from hypothesis import strategies as st

ENTITIES = ("customers", "products", "orders", "order_lines", "events")

# values that look fine to a human and are wrong (or right) for a machine
NASTY_VALUES = [
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "-0",
    "99999999999999999999",
    "2147483648",
    "0x1F",
    "",
    " ",
    "  c1  ",
    "c1\u00a0",
    "\u0441" + "1",  # Cyrillic es: a look-alike id
    "\u200bc1",
    "c1\t",
    "NULL",
    "null",
    "None",
    "true",
    "TRUE",
    "yes",
    "2",
    "1.5",
    "1,5",
    "2025-01-01",
    "2025-01-01T10:00:00",
    "2025-01-01 10:00:00+05:30",
    "1900-01-01",
    "2100-12-31 23:59:59",
    "0000-00-00",
    "2025-02-30",
    "31/01/2025",
    "2025-01-01 25:61:00",
    "=SUM(1+1)",
    "@cmd",
    "+1",
    '"',
    '""',
    "a,b",
    "line\nbreak",
    "x" * 70_000,
    "\u0000",
    "jane@example.com",
    "\ud83d\ude00".encode("utf-16", "surrogatepass").decode("utf-16"),
]


def header_and_rows(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@st.composite
def damaged(draw, files: dict[str, str]) -> tuple[str, bytes, str]:
    """(entity, the damaged file's bytes, the kind of damage) from valid ``files`` texts."""
    entity = draw(st.sampled_from(ENTITIES))
    header, rows = header_and_rows(files[entity])
    kind = draw(
        st.sampled_from(
            [
                "value",
                "values",
                "encoding",
                "bom",
                "delimiter",
                "quote",
                "huge",
                "header_dup",
                "header_missing",
                "header_extra",
                "empty",
                "header_only",
                "short_row",
                "long_row",
                "blank_lines",
                "crlf",
                "truncated",
                "bytes",
            ]
        )
    )
    rows = [list(r) for r in rows]
    if kind in ("value", "values"):
        for _ in range(1 if kind == "value" else draw(st.integers(2, 6))):
            r = draw(st.integers(0, len(rows) - 1))
            c = draw(st.integers(0, len(header) - 1))
            rows[r][c] = draw(st.sampled_from(NASTY_VALUES) | st.text(max_size=20))
        return entity, to_csv(header, rows).encode(), kind
    text = to_csv(header, rows)
    if kind == "encoding":
        codec = draw(st.sampled_from(["latin-1", "utf-16", "cp1252"]))
        text = text.replace(rows[0][0], rows[0][0] + "é", 1)
        return entity, text.encode(codec, errors="replace"), kind
    if kind == "bom":
        return entity, ("\ufeff" + text).encode(), kind
    if kind == "delimiter":
        return entity, text.replace(",", draw(st.sampled_from([";", "\t", "|"]))).encode(), kind
    if kind == "quote":  # a quote opened somewhere and never closed, or closed lines later
        at = draw(st.integers(len(",".join(header)) + 1, len(text) - 1))
        return entity, (text[:at] + '"' + text[at:]).encode(), kind
    if kind == "huge":
        rows[0][draw(st.integers(0, len(header) - 1))] = "x" * draw(st.integers(1, 3_000_000))
        return entity, to_csv(header, rows).encode(), kind
    if kind == "header_dup":
        return entity, to_csv([*header, header[0]], [[*r, r[0]] for r in rows]).encode(), kind
    if kind == "header_missing":
        drop = draw(st.integers(0, len(header) - 1))
        keep = [i for i in range(len(header)) if i != drop]
        return (
            entity,
            to_csv([header[i] for i in keep], [[r[i] for i in keep] for r in rows]).encode(),
            kind,
        )
    if kind == "header_extra":
        name = draw(st.sampled_from(["email", "Notes", "extra col", "_file", "_row"]))
        return (
            entity,
            to_csv([*header, name], [[*r, "jane@example.com"] for r in rows]).encode(),
            kind,
        )
    if kind == "empty":
        return entity, b"", kind
    if kind == "header_only":
        return entity, to_csv(header, []).encode(), kind
    if kind in ("short_row", "long_row"):
        r = draw(st.integers(0, len(rows) - 1))
        rows[r] = rows[r][:-1] if kind == "short_row" else rows[r] + ["surplus"]
        return entity, to_csv(header, rows).encode(), kind
    if kind == "blank_lines":
        lines = text.split("\n")
        at = draw(st.integers(1, len(lines) - 1))
        return entity, "\n".join([*lines[:at], "", *lines[at:]]).encode(), kind
    if kind == "crlf":
        return entity, text.replace("\n", "\r\n").encode(), kind
    if kind == "truncated":
        return entity, text.encode()[: draw(st.integers(1, len(text.encode()) - 1))], kind
    return entity, draw(st.binary(min_size=1, max_size=300)), kind

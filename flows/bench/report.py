"""The bench's figures: medians over repeated runs, and the job's stages against the bare
libraries' steps doing the same work."""

from __future__ import annotations

import statistics
from typing import Any

# the job's stage -> the bare steps doing its work (the gate, the checks and publishing have
# no bare counterpart: a hand-glued script judges nothing and writes nothing)
COUNTERPART = {"extract": ("aggregate",), "learn": ("matrix", "train"), "offer": ("recommend",)}


def median_stages(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Median seconds and highest peak per stage over repeated runs."""
    names = list(runs[0])
    return {
        n: {
            "seconds": statistics.median(r[n]["seconds"] for r in runs if n in r),
            "peak_rss_mb": max(r[n]["peak_rss_mb"] for r in runs if n in r),
        }
        for n in names
    }


def compare(job: dict[str, dict[str, float]], bare: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Per stage and for the whole night: job seconds, bare seconds, ratio; peaks."""
    bare_total = sum(s["seconds"] for s in bare.values())
    rows = []
    for stage, figures in job.items():
        steps = COUNTERPART.get(stage, ())
        bare_s = sum(bare[s]["seconds"] for s in steps) if steps else None
        rows.append(
            {
                "stage": stage,
                "seconds": figures["seconds"],
                "peak_rss_mb": figures["peak_rss_mb"],
                "bare": "+".join(steps),
                "bare_seconds": bare_s,
                "bare_peak_rss_mb": max((bare[s]["peak_rss_mb"] for s in steps), default=None),
                "ratio": figures["seconds"] / bare_s if bare_s else None,
            }
        )
    night = sum(f["seconds"] for f in job.values())
    gate = job.get("gate", {}).get("seconds", 0.0)
    job_peak = max(f["peak_rss_mb"] for f in job.values())
    bare_peak = max(s["peak_rss_mb"] for s in bare.values())
    return {
        "rows": rows,
        "night_s": night,
        "night_without_gate_s": night - gate,
        "bare_s": bare_total,
        "ratio": night / bare_total,
        "ratio_without_gate": (night - gate) / bare_total,
        "peak_rss_mb": job_peak,
        "bare_peak_rss_mb": bare_peak,
        "peak_ratio": job_peak / bare_peak,
    }

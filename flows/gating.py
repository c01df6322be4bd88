"""The gate and choose tasks: who makes tonight's lists, and that model on tonight's maps.

``gate_task`` gathers the evidence (``flows.judge``) and asks the policy (``models.gate``);
``choose_task`` turns the decision into a model: tonight's, an alternative kind, the current one
(translated onto tonight's id maps) or a baseline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from flows import db, judge, stages
from flows.config import Settings
from flows.errors import OffersError
from flows.tasks import run_logger, stage_task
from models import gate
from models.candidates import BASELINE_KINDS, ModelSpec
from models.recommender import Fitted, StoredModel, fit_prepared, reuse


@dataclass(frozen=True)
class GateOutcome:
    """The gate's decision and what the publish stage keeps of the gate's work."""

    decision: gate.GateDecision
    cut: dt.date | None = None
    trained: dict[str, Fitted] = field(default_factory=dict)  # candidates trained at the cut
    seconds: dict[str, float] = field(default_factory=dict)
    warm_started: tuple[str, ...] = ()  # trained from the current model's factors

    def keeping(self, kind: str | None) -> GateOutcome:
        """This outcome with only the candidate of ``kind`` kept of those trained at the cut
        (None: none): publish needs only the promoted model's judge copy, and at 1M the others
        (ALS factors among them) would stay in memory through the offer stage."""
        kept = {k: v for k, v in self.trained.items() if k == kind}
        return replace(self, trained=kept)


@stage_task("gate")
def gate_task(settings: Settings, as_of: dt.date, spec: ModelSpec) -> GateOutcome:
    """Judge every candidate and the current model on the windows before ``as_of``."""
    con = db.connect(settings.database)
    try:
        current = stages.current_model(con, as_of)
        version = current.version if current else None
        if current is not None and current.pinned:
            return GateOutcome(gate.pinned(current.version, current.kind))
        if not settings.gate.enabled:
            return GateOutcome(gate.disabled(spec.kind, version))
        data = judge.gate_data(con, settings, as_of)
    finally:
        con.close()
    log = run_logger()
    entry, incumbent, note = _current_entry(current, data.cut)
    if note:
        log.info("gate: %s", note)
    decision, judged = judge.verdict(
        data, settings, spec, entry, incumbent=incumbent, current_version=version
    )
    for line in gate.describe(decision):
        log.info("%s", line)
    if judged is None:
        return GateOutcome(decision)
    if judged.warm_started:
        log.info("gate: %s warm-started from the current model", ", ".join(judged.warm_started))
    return GateOutcome(decision, data.cut, judged.trained, judged.seconds, judged.warm_started)


def _current_entry(
    current: stages.CurrentModel | None, cut: dt.date
) -> tuple[tuple[str, StoredModel] | None, str | None, str]:
    """How the model in charge is judged tonight: (label, stored copy), its label, a note.

    A popularity baseline in charge is judged as that baseline (rebuilt tonight). A model is
    re-scored from its judge copy (trained at its own night's cut) or, for a model older than
    tonight's cut, from its production factors; one that saw tonight's windows cannot be.
    """
    if current is None:
        return None, None, ""
    if current.kind in BASELINE_KINDS:
        return None, current.kind, ""
    meta = stages.model_metadata(current)
    if meta is None:
        return None, None, f"{current.version}'s files are missing; it cannot be judged"
    judge_cut = meta.get("judge_cut")
    if judge_cut is not None and dt.date.fromisoformat(judge_cut) <= cut:
        return (gate.CURRENT_LABEL, stages.load_model(current, judge=True)), gate.CURRENT_LABEL, ""
    if current.as_of is not None and current.as_of <= cut:
        return (gate.CURRENT_LABEL, stages.load_model(current)), gate.CURRENT_LABEL, ""
    return (
        None,
        None,
        (
            f"{current.version} has no judge copy trained before {cut}: it cannot be re-scored "
            "without seeing the judged windows; it stays unless a challenger beats the baselines"
        ),
    )


@stage_task("choose")
def choose_task(
    settings: Settings, as_of: dt.date, fitted: Fitted, decision: gate.GateDecision
) -> tuple[Fitted, str | None, gate.GateDecision]:
    """The model that makes tonight's lists: the new one, an alternative, the current one or a
    baseline, on tonight's id maps.

    Returns it, the registered version in charge (None: a version registered tonight) and
    the decision (a new one when the current model's files turn out to be missing).
    """
    if decision.action == gate.PROMOTE:
        if fitted.spec is None or decision.kind == fitted.spec.kind:  # the new model
            return fitted, None, decision
        spec = stages.spec_for(settings, decision.kind or "")
        inner = fitted.model if spec.kind == "hybrid" else None  # explores with tonight's model
        return fit_prepared(fitted, spec, seed=settings.seed, inner=inner), None, decision
    if decision.action == gate.KEEP_CURRENT:
        con = db.connect(settings.database)
        try:
            current = stages.current_model(con, as_of)
        finally:
            con.close()
        assert current is not None
        try:
            stored = stages.load_model(current)
        except OffersError as exc:
            if current.pinned:  # pinned by an engineer: do not second-guess
                raise
            kind = decision.strongest_baseline(settings.gate.baselines[0])
            decision = decision.fall_back(kind, f"{exc}; publishing {kind} instead")
            run_logger().warning("gate: %s", decision.reason)
        else:
            return reuse(fitted, stored), current.version, decision
    spec = ModelSpec(decision.kind or settings.gate.baselines[0])
    return fit_prepared(fitted, spec, seed=settings.seed), None, decision

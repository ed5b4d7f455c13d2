"""`compare`: the treating team's plan and each second opinion side by side.

Library first: :func:`build_comparison` is a pure function of the case (no I/O);
:func:`compare_case` checks the case file and writes ``<case_id>-after-opinion/``:

* ``<case_id>-comparison.pdf`` and ``.txt`` -- "Two opinions side by side" (diagnosis,
  stage, recommended plan, rationale, trials, answer to the question; rows where the
  opinions differ are marked), then the questions for both doctors;
* ``<case_id>-letter-to-oncologist.pdf`` and ``.txt`` -- asking the treating oncologist
  for an appointment to discuss the second opinion and whether the two doctors can review
  the case together;
* ``comparison.json`` -- what the documents say, for scripts (schema
  ``opinionkit.compare/1``).

Written like every output folder: built aside and swapped in whole (AtomicDir), never
over anything opinionkit did not write (``folder_guard``), with its inventory.

What "differs" means, decided here once: the diagnosis differs when the reviewer says it
does not (or only partly) agree (``agrees_with_diagnosis``); the stage differs when a
stage part both sides give (group, T, N, M, risk group) is not the same; the plan differs
when ``agrees_with_plan`` is ``no`` or ``partly``; the trials differ when the opinion
names trials. Free text is never compared word by word.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from opinionkit.check import UsableCase, check_case
from opinionkit.errors import InputError, OutputError
from opinionkit.models import Agreement, Case, Opinion, Stage
from opinionkit.options import CompareOptions
from opinionkit.output import folder_guard
from opinionkit.pdf import AtomicDir, atomic_write
from opinionkit.render.frontmatter import sender_details, stage_text
from opinionkit.render.templating import compile_pdf, font_stack, render_template

__all__ = [
    "COMPARE_SCHEMA",
    "CompareResult",
    "Comparison",
    "Row",
    "Side",
    "build_comparison",
    "compare_case",
    "write_comparison",
]

COMPARE_SCHEMA = "opinionkit.compare/1"

TREATING = "Treating team"


@dataclass
class Side:
    """One column: the treating team, or one opinion."""

    label: str
    """ "Treating team", "Second opinion 1" ..."""
    by: str
    """Who: the doctor and institution."""
    received: date | None = None
    review_type: str | None = None
    diagnosis: str | None = None
    stage: str | None = None
    plan: str | None = None
    rationale: str | None = None
    trials: list[str] = field(default_factory=list)
    answer: str | None = None
    agrees_with_diagnosis: str | None = None
    agrees_with_plan: str | None = None
    pathology_review: str | None = None
    imaging_review: str | None = None
    follow_up: str | None = None


@dataclass
class Row:
    """One line of the side-by-side table."""

    key: str
    """diagnosis, stage, plan, rationale, trials or answer."""
    label: str
    treating: str | None
    opinions: list[str | None]
    differs: list[bool]
    """Per opinion: whether it differs from the treating team here."""

    @property
    def any_differs(self) -> bool:
        return any(self.differs)


@dataclass
class Comparison:
    case_id: str
    question: str | None
    treating: Side
    opinions: list[Side]
    rows: list[Row]
    differences: list[str]
    """Plain sentences: where the opinions differ from the treating team."""
    questions: list[str]
    """The questions for both doctors, filled in with this case's specifics."""
    verdict: str = "unstated"
    """``differs`` (some row differs), ``agrees`` (nothing differs and every opinion says
    it agrees with both the diagnosis and the plan) or ``unstated`` (nothing differs, but
    an opinion does not say whether it agrees)."""

    def to_dict(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            d = asdict(s)
            d["received"] = s.received.isoformat() if s.received else None
            return d

        return {
            "schema": COMPARE_SCHEMA,
            "case_id": self.case_id,
            "question": self.question,
            "treating": side(self.treating),
            "opinions": [side(o) for o in self.opinions],
            "rows": [
                {
                    "key": r.key,
                    "label": r.label,
                    "treating": r.treating,
                    "opinions": r.opinions,
                    "differs": r.differs,
                }
                for r in self.rows
            ],
            "differences": self.differences,
            "questions": self.questions,
            "verdict": self.verdict,
        }


# --- what differs -------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")


def _norm(text: str | None) -> str:
    return _SPACE.sub(" ", (text or "").strip().casefold())


def _stage_parts(stage: Stage | str | None) -> dict[str, str]:
    if stage is None:
        return {}
    if isinstance(stage, str):
        found = re.search(r"\b(?:stage\s+)?([IV]{1,4}[ABC]?\d?)\b", stage)
        return {"group": found.group(1).casefold()} if found else {"text": _norm(stage)}
    parts = {
        k: _norm(getattr(stage, k)).lstrip("cpy")
        for k in ("t", "n", "m", "risk_group")
        if getattr(stage, k)
    }
    if stage.group:
        parts["group"] = _norm(stage.group)
    return parts


def stage_differs(treating: Stage | None, opinion: Stage | str | None) -> bool:
    """A stage part both give (group, T, N, M, risk group) is not the same."""
    a, b = _stage_parts(treating), _stage_parts(opinion)
    if "text" in b:
        return _norm(stage_text(treating)) != b["text"]
    return any(a[k] != b[k] for k in a.keys() & b.keys())


def _stage_label(stage: Stage | str | None) -> str | None:
    if stage is None:
        return None
    return stage if isinstance(stage, str) else (stage_text(stage) or None)


def _short_stage(stage: Stage | str | None) -> str | None:
    """The stage without its system, for a question: "IIIA (cT2b N2 M0)"."""
    if isinstance(stage, Stage):
        return stage_text(stage.model_copy(update={"system": None, "edition": None})) or None
    return stage


def _trial_text(op: Opinion) -> list[str]:
    out = []
    for t in op.trials:
        name = " — ".join(x for x in (t.id, t.title) if x)
        out.append(f"{name} ({t.where})" if t.where else name)
    return out


def _treating_side(case: Case) -> Side:
    d = case.diagnosis
    doc = case.care_team.treating_oncologist
    diagnosis = ", ".join(x for x in (d.cancer_type, d.histology, d.primary_site) if x)
    return Side(
        label=TREATING,
        by=", ".join(x for x in (doc.name, doc.facility) if x),
        diagnosis=diagnosis,
        stage=stage_text(d.stage) or None,
        plan=case.treatment.plan,
    )


def _opinion_side(n: int, op: Opinion, many: bool) -> Side:
    return Side(
        label=f"Second opinion {n}" if many else "Second opinion",
        by=op.by,
        received=op.received,
        review_type=op.review_type.value,
        diagnosis=op.diagnosis,
        stage=_stage_label(op.stage),
        plan=op.recommended_plan,
        rationale=op.rationale,
        trials=_trial_text(op),
        answer=op.answer,
        agrees_with_diagnosis=op.agrees_with_diagnosis.value if op.agrees_with_diagnosis else None,
        agrees_with_plan=op.agrees_with_plan.value if op.agrees_with_plan else None,
        pathology_review=op.pathology_review,
        imaging_review=op.imaging_review,
        follow_up=op.follow_up,
    )


def _disagrees(value: Agreement | None) -> bool:
    return value in (Agreement.NO, Agreement.PARTLY)


def _who(op: Opinion) -> str:
    return op.doctor or op.institution or "the second opinion"


def build_comparison(case: Case) -> Comparison:
    """The comparison of ``case``'s treating plan with each of its opinions (pure)."""
    if not case.opinions:
        raise InputError(
            "the case records no opinion to compare",
            hint="add the opinion received under opinions: (see the README, 'After the opinion')",
        )
    many = len(case.opinions) > 1
    treating = _treating_side(case)
    sides = [_opinion_side(n, op, many) for n, op in enumerate(case.opinions, start=1)]
    ops = case.opinions
    rows = [
        Row(
            "diagnosis",
            "Diagnosis",
            treating.diagnosis,
            [s.diagnosis for s in sides],
            [_disagrees(op.agrees_with_diagnosis) for op in ops],
        ),
        Row(
            "stage",
            "Stage",
            treating.stage,
            [s.stage for s in sides],
            [stage_differs(case.diagnosis.stage, op.stage) for op in ops],
        ),
        Row(
            "plan",
            "Recommended plan",
            treating.plan,
            [s.plan for s in sides],
            [_disagrees(op.agrees_with_plan) for op in ops],
        ),
        Row("rationale", "Rationale", None, [s.rationale for s in sides], [False] * len(ops)),
        Row(
            "trials",
            "Clinical trials",
            None,
            ["; ".join(s.trials) or None for s in sides],
            [bool(op.trials) for op in ops],
        ),
    ]
    if case.request.primary_question:
        rows.append(
            Row(
                "answer",
                "Answer to the question",
                None,
                [s.answer for s in sides],
                [False] * len(ops),
            )
        )
    differences = _differences(case, rows)
    if any(r.any_differs for r in rows):
        verdict = "differs"
    elif all(
        op.agrees_with_plan is Agreement.YES and op.agrees_with_diagnosis is Agreement.YES
        for op in ops
    ):
        verdict = "agrees"
    else:
        verdict = "unstated"
    return Comparison(
        case.case_id,
        case.request.primary_question,
        treating,
        sides,
        rows,
        differences,
        _questions(case, rows),
        verdict,
    )


def _differences(case: Case, rows: list[Row]) -> list[str]:
    out = []
    by_key = {r.key: r for r in rows}
    for i, op in enumerate(case.opinions):
        who = _who(op)
        if by_key["diagnosis"].differs[i]:
            extent = (
                "does not agree"
                if op.agrees_with_diagnosis is Agreement.NO
                else "agrees only in part"
            )
            out.append(f"{who} {extent} with the diagnosis.")
        if by_key["stage"].differs[i]:
            out.append(
                f"Stage: the treating team gives {by_key['stage'].treating or 'no stage'}; "
                f"{who} gives {by_key['stage'].opinions[i]}."
            )
        if by_key["plan"].differs[i]:
            extent = (
                "recommends a different plan"
                if op.agrees_with_plan is Agreement.NO
                else "agrees with the plan only in part"
            )
            out.append(f"{who} {extent}: {op.recommended_plan or 'see the report'}")
        if op.trials:
            out.append(
                f"{who} names {len(op.trials)} clinical trial{'s' if len(op.trials) != 1 else ''}."
            )
    return out


def _questions(case: Case, rows: list[Row]) -> list[str]:
    """The questions for both doctors (PRODUCT.md section 9), with this case's specifics."""
    by_key = {r.key: r for r in rows}
    names = [_who(op) for op in case.opinions]
    oncologist = case.care_team.treating_oncologist.name
    others = " and ".join(names)
    qs: list[str] = []
    plans = [f"{oncologist}'s team plans: {case.treatment.plan}" if case.treatment.plan else None]
    plans += [
        f"{names[i]} recommends: {op.recommended_plan}"
        for i, op in enumerate(case.opinions)
        if op.recommended_plan
    ]
    qs.append(
        "How did you arrive at your treatment plan? "
        + " ".join(p if p.endswith(".") else p + "." for p in plans if p)
    )
    read = []
    stage = by_key["stage"]
    treating_stage = _short_stage(case.diagnosis.stage)
    for i, op in enumerate(case.opinions):
        if stage.differs[i]:
            read.append(
                f"the stage ({treating_stage or 'not given'} for {oncologist}'s team; "
                f"{_short_stage(op.stage)} for {names[i]})"
            )
        if op.imaging_review and (stage.differs[i] or _disagrees(op.agrees_with_plan)):
            read.append(f"the imaging, which {names[i]} re-read: {op.imaging_review}")
        if op.pathology_review and _disagrees(op.agrees_with_diagnosis):
            read.append(f"the pathology, which {names[i]} re-reviewed: {op.pathology_review}")
    biomarkers = ", ".join(f"{b.name} {b.result}" for b in case.diagnosis.biomarkers)
    q = "How did you interpret the test results"
    if read:
        q += ", in particular " + "; and ".join(read)
    elif biomarkers:
        q += f" ({biomarkers})"
    qs.append(q.rstrip(".") + "?")
    qs.append(
        "What have you recommended to other patients in the same situation"
        + (f" — {case.diagnosis.cancer_type}" if case.diagnosis.cancer_type else "")
        + (f", stage {treating_stage}" if treating_stage else "")
        + (f", with {biomarkers}" if biomarkers else "")
        + "?"
    )
    if case.request.primary_question:
        answers = [
            f"{names[i]} answered: {op.answer}" for i, op in enumerate(case.opinions) if op.answer
        ]
        qs.append(
            f"Our question was: {case.request.primary_question.rstrip('?')}? "
            + (
                " ".join(a if a.endswith(".") else a + "." for a in answers) + " "
                if answers
                else ""
            )
            + "What is your answer, and where do you differ?"
        )
    for i, op in enumerate(case.opinions):
        for t in _trial_text(op):
            qs.append(
                f"{names[i]} mentions the trial {t}. Is it suitable, and how would a referral be made?"
            )
    qs.append(
        f"Could {oncologist} and {others} review the case together (a joint call or tumour "
        "board), so that we can decide with both of you?"
    )
    return qs


# --- writing ------------------------------------------------------------------------------


@dataclass
class CompareResult:
    out: Path
    comparison: Comparison
    files: list[str]
    summary: dict[str, Any]
    """What ``comparison.json`` holds (schema ``opinionkit.compare/1``) plus ``out`` and
    ``files``."""


def default_out(case_file: Path, case_id: str) -> Path:
    """``<case_id>-after-opinion`` beside the case file: where ``status`` looks to see that
    a case was compared."""
    return case_file.parent / f"{case_id}-after-opinion"


def _inputs(usable: UsableCase) -> list[Path]:
    found = [usable.path, usable.path.parent]
    for rec in usable.case.records:
        for rel in rec.paths + ([rec.translation] if rec.translation else []):
            found.append(usable.path.parent / rel)
    return found


def compare_case(path: Path | str, options: CompareOptions | None = None) -> CompareResult:
    """Check the case file (record files are not read: the comparison encloses none) and
    write its ``<case_id>-after-opinion`` folder."""
    options = options or CompareOptions()
    usable = check_case(path, replace(options.check, files=False)).usable()
    out = options.out or default_out(usable.path, usable.case.case_id)
    return write_comparison(
        usable, out, force=options.force, when=options.when, templates_dir=options.templates
    )


def write_comparison(
    usable: UsableCase,
    out: Path,
    *,
    force: bool = False,
    when: date | None = None,
    templates_dir: Path | None = None,
) -> CompareResult:
    case = usable.case
    comparison = build_comparison(case)
    day = when or date.today()
    sender = sender_details(case)
    ctx = {
        "case": case,
        "case_id": case.case_id,
        "patient": case.patient,
        "generated": day,
        "comparison": comparison,
        "treating": comparison.treating,
        "opinions": comparison.opinions,
        "rows": comparison.rows,
        "differences": comparison.differences,
        "questions": comparison.questions,
        "question": comparison.question,
        "oncologist": case.care_team.treating_oncologist,
        "sender": sender,
        "we": "I" if sender["kind"] == "patient" else "we",
        "font_stack": font_stack(case),  # the case's CJK face, as the packet's
        "age": case.age_on(day),
        "verdict": comparison.verdict,
    }
    stem = case.case_id
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out.parent}: cannot create the folder ({e.strerror})") from None
    files: list[str] = []
    with AtomicDir(
        out, force=force, guard=folder_guard(_inputs(usable)), inventory="compare"
    ) as tmp:
        for name, template, title in (
            (f"{stem}-comparison", "compare", "Two opinions side by side"),
            (f"{stem}-letter-to-oncologist", "compare-letter", "Letter to the treating oncologist"),
        ):
            page_ctx = {**ctx, "document_title": title}
            pdf = compile_pdf(
                render_template(f"{template}.typ.j2", page_ctx, templates_dir),
                f"{template}.typ.j2",
                day,
            )
            text = render_template(f"{template}.txt.j2", page_ctx, templates_dir, text=True)
            for fname, data in ((f"{name}.pdf", pdf), (f"{name}.txt", text.encode())):
                atomic_write(tmp / fname, data, force=True, sync=False)  # AtomicDir fsyncs
                files.append(fname)
        files.append("comparison.json")
        doc = comparison.to_dict()
        atomic_write(
            tmp / "comparison.json",
            (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode(),
            force=True,
            sync=False,
        )
    summary = {**comparison.to_dict(), "out": str(out), "files": files}
    return CompareResult(out, comparison, files, summary)

"""Completeness: does the case hold what its profile requires?

Each rule is a small predicate over the validated case. Profiles (data files) name the rule
in ``check:`` and give its options; this module is the whole vocabulary they can use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from opinionkit.findings import Finding, Severity
from opinionkit.loading import LoadedCase
from opinionkit.models import Case, MaterialKind, RecordKind, RecordStatus
from opinionkit.profiles import Profile, Requirement

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Gap:
    """One way a requirement is not met: where to look, and a sentence (no patient values)."""

    key: KeyPath
    detail: str | None = None
    code: str | None = None
    """A finding code of its own (the detail is then the whole message); default
    ``missing.<requirement id>``."""


@dataclass(frozen=True)
class Rule:
    name: str
    doc: str
    fn: Callable[[Case, dict[str, Any], date], list[Gap]]
    options: dict[str, type | tuple[type, ...]] = field(default_factory=dict)

    def validate_options(self, given: dict[str, Any]) -> str | None:
        for key, value in given.items():
            want = self.options.get(key)
            if want is None:
                allowed = ", ".join(self.options) or "none"
                return f"check '{self.name}' takes no option '{key}' (options: {allowed})"
            if key in ("kind",) and value not in {k.value for k in RecordKind}:
                return f"'{key}' must be a record kind"
            if key == "kinds" and not (
                isinstance(value, list) and all(v in {k.value for k in RecordKind} for v in value)
            ):
                return "'kinds' must be a list of record kinds"
            if key in ("min",) and not (isinstance(value, str) and value.isdigit()):
                return f"'{key}' must be a whole number"
            if key == "when" and value not in ("minor", "always"):
                return "'when' must be 'minor' or 'always'"
            if key == "address" and value not in ("true", "false"):
                return "'address' must be true or false"
        if "kind" in self.options and "kind" not in given:
            return f"check '{self.name}' needs a 'kind' option"
        if "kinds" in self.options and "kinds" not in given:
            return f"check '{self.name}' needs a 'kinds' option"
        return None


RULES: dict[str, Rule] = {}


def rule(name: str, doc: str, **options: type | tuple[type, ...]) -> Callable[..., Any]:
    def register(fn: Callable[[Case, dict[str, Any], date], list[Gap]]) -> Any:
        RULES[name] = Rule(name, doc, fn, options)
        return fn

    return register


def _received(case: Case, kinds: set[RecordKind]) -> list[int]:
    return [
        i
        for i, r in enumerate(case.records)
        if r.kind in kinds and r.status is RecordStatus.RECEIVED
    ]


@rule(
    "patient-contact",
    "patient name and date of birth, and a phone, e-mail or address "
    "(option address: true also requires the postal address)",
    address=str,
)
def _patient_contact(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    p = case.patient
    gaps = []
    if not (p.phone or p.email or p.address):
        gaps.append(Gap(("patient",), "no phone, e-mail or address for the patient"))
    if opts.get("address") == "true" and not p.address:
        gaps.append(Gap(("patient",), "no postal address for the patient"))
    return gaps


@rule(
    "guardian",
    "a parent or guardian with a phone or e-mail (option when: minor (default) or always)",
    when=str,
)
def _guardian(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    if opts.get("when", "minor") == "minor" and case.age_on(today) >= 18:
        return []
    if not case.guardians:
        return [Gap(("guardians",), "no parent or guardian is listed")]
    if not any(g.phone or g.email for g in case.guardians):
        return [Gap(("guardians",), "no phone or e-mail for the parent or guardian")]
    if not any(g.legal_authority for g in case.guardians):
        return [Gap(("guardians",), "no guardian is marked as holding legal authority to consent")]
    return []


@rule("insurance", "payer and member ID")
def _insurance(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    if case.insurance is None:
        return [Gap(("insurance",))]
    if not case.insurance.member_id:
        return [Gap(("insurance",), "the member ID is missing")]
    return []


@rule("treating-doctor", "treating oncologist with a phone, fax or e-mail")
def _treating(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    d = case.care_team.treating_oncologist
    if not (d.phone or d.fax or d.email):
        return [
            Gap(
                ("care_team", "treating_oncologist"),
                "no phone, fax or e-mail for the treating oncologist",
            )
        ]
    return []


@rule("diagnosis", "diagnosis type and date, and at least one presenting symptom")
def _diagnosis(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    gaps = []
    if case.diagnosis.date is None:
        gaps.append(Gap(("diagnosis",), "the date of diagnosis is missing"))
    if not case.diagnosis.symptoms:
        gaps.append(Gap(("diagnosis",), "no presenting symptoms are listed"))
    return gaps


@rule("questions", "at least `min` questions (default 1)", min=str)
def _questions(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    need = int(opts.get("min", "1"))
    have = len(case.request.all_questions)
    return [] if have >= need else [Gap(("request",))]


@rule("primary-question", "exactly one primary question")
def _primary(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    if not case.request.primary_question:
        return [Gap(("request",), "there is no request.primary_question")]
    if case.request.questions:
        n = len(case.request.questions)
        return [
            Gap(
                ("request", "questions"),
                f"{n} further question{'s are' if n != 1 else ' is'} listed; this programme "
                "answers exactly one primary question",
                code="request.extra-questions",
            )
        ]
    return []


@rule("records", "at least `min` (default 1) received records of `kind`", kind=str, min=str)
def _records(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    kind = RecordKind(opts["kind"])
    need = int(opts.get("min", "1"))
    have = len(_received(case, {kind}))
    if have >= need:
        return []
    if have == 0:
        return [Gap(("records",))]
    return [Gap(("records",), f"only {have} of {need} are present")]


@rule("records-any", "at least one received record of any of `kinds`", kinds=list)
def _records_any(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    kinds = {RecordKind(k) for k in opts["kinds"]}
    return [] if _received(case, kinds) else [Gap(("records",))]


@rule("slides", "pathology slides or blocks shipped (physical_materials) or digital slides")
def _slides(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    kinds = {MaterialKind.SLIDES, MaterialKind.BLOCKS, MaterialKind.DIGITAL_SLIDES}
    if any(m.kind in kinds for m in case.physical_materials):
        return []
    return [Gap(("physical_materials",))]


@rule("treatment-plan", "treatment.plan written, or a treatment-plan record")
def _plan(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    if case.treatment.plan or _received(case, {RecordKind.TREATMENT_PLAN}):
        return []
    return [Gap(("treatment",))]


@rule(
    "treatment-history",
    "every systemic therapy has dates; every radiation course dates, "
    "dose and fractions; at least one entry unless the plan is the only treatment",
)
def _history(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    t = case.treatment
    gaps: list[Gap] = []
    if not (t.systemic or t.radiation or t.surgery):
        return [Gap(("treatment",), "no systemic therapy, radiation or surgery is listed")]
    for i, s in enumerate(t.systemic):
        if s.start is None:
            gaps.append(Gap(("treatment", "systemic", i), "a systemic therapy has no start date"))
    for i, r in enumerate(t.radiation):
        if r.start is None or r.dose_gy is None or r.fractions is None:
            gaps.append(
                Gap(
                    ("treatment", "radiation", i),
                    "a radiation course lacks dates, dose or fractions",
                )
            )
    return gaps


@rule(
    "medications", "medications listed (or explicitly 'none'), each with dose, unit and frequency"
)
def _medications(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    if case.medications is None:
        return [
            Gap(
                ("medications",),
                "there is no medications: list (write 'medications: none' if none)",
            )
        ]
    # Per-medication gaps (dose, unit, frequency) are consistency findings of their own.
    return []


@rule("english", "every record in English, or with a translation attached")
def _english(case: Case, opts: dict[str, Any], today: date) -> list[Gap]:
    gaps = []
    for i, r in enumerate(case.records):
        lang = (r.language or "en").strip().lower()
        if lang not in ("en", "eng", "english", "en-us", "en-gb") and not r.translation:
            gaps.append(
                Gap(("records", i, "language"), "a record is not in English and has no translation")
            )
    return gaps


def check_completeness(loaded: LoadedCase, profile: Profile, today: date) -> Iterator[Finding]:
    case = loaded.case
    assert case is not None
    for req in profile.requirements:
        yield from _requirement_findings(loaded, case, profile, req, today)


def _requirement_findings(
    loaded: LoadedCase, case: Case, profile: Profile, req: Requirement, today: date
) -> Iterator[Finding]:
    gaps = RULES[req.check].fn(case, req.options, today)
    severity = Severity.ERROR if req.level == "required" else Severity.WARNING
    for gap in gaps:
        if gap.code is not None and gap.detail:
            message = f"{gap.detail} ({req.level} by the {profile.id} profile)"
        else:
            message = f"missing {req.label} ({req.level} by the {profile.id} profile)"
            if gap.detail:
                message += f": {gap.detail}"
        yield Finding(
            gap.code or f"missing.{req.id}",
            severity,
            message,
            req.hint,
            **loaded.where(gap.key),
        )

"""Consistency of the case's own facts: dates, doses, and pairs that belong together."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from opinionkit.findings import Finding, Severity
from opinionkit.loading import LoadedCase
from opinionkit.models import Case, Reason, RecordKind, RecordStatus, SignerRole
from opinionkit.profiles import Profile

KeyPath = tuple[str | int, ...]


def _dates(case: Case) -> Iterator[tuple[KeyPath, date]]:
    """Every date in the case with its key path (except the date of birth itself)."""
    d = case.diagnosis
    if d.date:
        yield ("diagnosis", "date"), d.date
    for i, s in enumerate(d.symptoms):
        if s.onset:
            yield ("diagnosis", "symptoms", i, "onset"), s.onset
    for i, b in enumerate(d.biomarkers):
        if b.date:
            yield ("diagnosis", "biomarkers", i, "date"), b.date
    if d.performance_status and d.performance_status.date:
        yield ("diagnosis", "performance_status", "date"), d.performance_status.date
    for i, therapy in enumerate(case.treatment.systemic):
        for k in ("start", "end"):
            v = getattr(therapy, k)
            if v:
                yield ("treatment", "systemic", i, k), v
    for i, r in enumerate(case.treatment.radiation):
        for k in ("start", "end"):
            v = getattr(r, k)
            if v:
                yield ("treatment", "radiation", i, k), v
    for i, su in enumerate(case.treatment.surgery):
        if su.date:
            yield ("treatment", "surgery", i, "date"), su.date
    for i, m in enumerate(case.medication_list):
        if m.start:
            yield ("medications", i, "start"), m.start
    for i, rec in enumerate(case.records):
        if rec.date:
            yield ("records", i, "date"), rec.date
        if rec.requested:
            yield ("records", i, "requested"), rec.requested
    for i, pm in enumerate(case.physical_materials):
        if pm.shipped:
            yield ("physical_materials", i, "shipped"), pm.shipped
    if case.prepared:
        yield ("prepared",), case.prepared
    if case.sent:
        yield ("sent",), case.sent
    for i, op in enumerate(case.opinions):
        if op.received:
            yield ("opinions", i, "received"), op.received


def check_consistency(loaded: LoadedCase, profile: Profile, today: date) -> Iterator[Finding]:
    case = loaded.case
    assert case is not None
    where = loaded.where
    birth = case.patient.date_of_birth

    if birth > today:
        yield Finding(
            "date.future",
            Severity.ERROR,
            "the date of birth is in the future",
            "check the year",
            **where(("patient", "date_of_birth")),
        )
    elif case.age_on(today) > 120:
        yield Finding(
            "date.implausible",
            Severity.ERROR,
            "the date of birth makes the patient older than 120",
            "check the year",
            **where(("patient", "date_of_birth")),
        )

    for key, value in _dates(case):
        if value > today:
            yield Finding(
                "date.future",
                Severity.ERROR,
                f"{_name(key)} is in the future",
                "check the year and that the date is written YYYY-MM-DD",
                **where(key),
            )
        elif value < birth:
            yield Finding(
                "date.before-birth",
                Severity.ERROR,
                f"{_name(key)} is before the date of birth",
                "check the year and that the date is written YYYY-MM-DD",
                **where(key),
            )

    # Treatment cannot start before the diagnosis it treats.
    dx = case.diagnosis.date
    if dx:
        for key, value in _dates(case):
            if key[0] == "treatment" and key[-1] in ("start", "date") and value < dx:
                yield Finding(
                    "date.treatment-before-diagnosis",
                    Severity.WARNING,
                    f"{_name(key)} is before the date of diagnosis",
                    "check both dates; a biopsy done as surgery can precede the report date — "
                    "then set diagnosis.date to the biopsy date",
                    **where(key),
                )
    for key, value in _dates(case):
        if key[0] in ("treatment",) and key[-1] == "end":
            start = _start_of(case, key)
            if start and value < start:
                yield Finding(
                    "date.end-before-start",
                    Severity.ERROR,
                    f"{_name(key)} is before its start",
                    "swap or correct the dates",
                    **where(key),
                )

    # Medications: dose, unit and frequency.
    for i, m in enumerate(case.medication_list):
        missing = [k for k in ("dose", "unit", "frequency") if getattr(m, k) is None]
        if missing:
            yield Finding(
                "medication.incomplete",
                Severity.WARNING,
                f"a medication has no {', '.join(missing)}",
                "copy them from the pharmacy label or the medication list in the patient portal",
                **where(("medications", i)),
            )

    # Radiation: dose and fractions.
    for i, r in enumerate(case.treatment.radiation):
        missing = [k for k, v in (("dose_gy", r.dose_gy), ("fractions", r.fractions)) if v is None]
        if missing:
            yield Finding(
                "radiation.incomplete",
                Severity.WARNING,
                f"a radiation course has no {' or '.join(missing)}",
                "the radiation oncology treatment summary gives the total dose (Gy) and the number of fractions",
                **where(("treatment", "radiation", i)),
            )

    # Staging imaging: the newest imaging must not be older than the profile allows.
    imaging = [
        (i, r)
        for i, r in enumerate(case.records)
        if r.kind in (RecordKind.IMAGING_REPORT, RecordKind.IMAGING_STUDY)
        and r.status is RecordStatus.RECEIVED
        and r.date
    ]
    reference = case.prepared or today
    if imaging:
        newest_i, newest = max(imaging, key=lambda t: t[1].date or date.min)
        assert newest.date is not None
        age = (reference - newest.date).days
        if age > profile.staging_imaging_max_days:
            yield Finding(
                "imaging.stale",
                Severity.WARNING,
                f"the most recent imaging is {age} days old; the {profile.id} profile expects staging "
                f"imaging within {profile.staging_imaging_max_days} days",
                "ask whether newer scans exist, or whether the reviewers need new staging imaging",
                **where(("records", newest_i, "date")),
            )

    yield from _imaging_pairs(loaded, case)
    yield from _request_and_sender(loaded, case)

    # Record ids must be unique, and a study's report must name an imaging report.
    ids: dict[str, int] = {}
    for i, rec in enumerate(case.records):
        if rec.id is not None:
            if rec.id in ids:
                yield Finding(
                    "record.duplicate-id",
                    Severity.ERROR,
                    "two records have the same id",
                    "give each record its own id",
                    **where(("records", i, "id")),
                )
            ids[rec.id] = i
    for i, rec in enumerate(case.records):
        if rec.report is not None:
            target = ids.get(rec.report)
            if rec.kind is not RecordKind.IMAGING_STUDY:
                yield Finding(
                    "record.report-on-non-study",
                    Severity.WARNING,
                    "only an imaging study names its report with report:",
                    None,
                    **where(("records", i, "report")),
                )
            elif target is None or case.records[target].kind is not RecordKind.IMAGING_REPORT:
                yield Finding(
                    "record.unknown-report",
                    Severity.ERROR,
                    "report: does not name the id of an imaging-report record",
                    "set id: on the imaging report and use the same value here",
                    **where(("records", i, "report")),
                )


def _request_and_sender(loaded: LoadedCase, case: Case) -> Iterator[Finding]:
    """The reason 'other' needs its words; a guardian who signs must be one listed."""
    req = case.request
    if Reason.OTHER in req.reasons and not req.other_reason:
        yield Finding(
            "request.other-reason-missing",
            Severity.WARNING,
            "reasons lists other, but no other_reason says what it is",
            "write the reason in a sentence under request.other_reason",
            **loaded.where(("request", "reasons", req.reasons.index(Reason.OTHER))),
        )
    elif req.other_reason and Reason.OTHER not in req.reasons:
        yield Finding(
            "request.other-reason-unlisted",
            Severity.INFO,
            "other_reason is given but reasons does not list other; it is printed anyway",
            "add other to request.reasons",
            **loaded.where(("request", "other_reason")),
        )
    sender = case.sender
    if sender.role is SignerRole.GUARDIAN:
        if not case.guardians:
            yield Finding(
                "sender.no-guardian",
                Severity.WARNING,
                "sender.role is guardian, but no guardian is listed; the patient signs",
                "add the guardian under guardians:, or set sender.role: patient",
                **loaded.where(("sender", "role")),
            )
        elif sender.name and case.signing_guardian() is None:
            yield Finding(
                "sender.not-a-guardian",
                Severity.WARNING,
                "sender.name names none of the listed guardians, so the letter gives no "
                "relationship or contact details for the signer",
                "write the name exactly as under guardians:, or add that guardian",
                **loaded.where(("sender", "name")),
            )


def _imaging_pairs(loaded: LoadedCase, case: Case) -> Iterator[Finding]:
    """Each imaging study should come with its report and (softer) each report with its images."""
    reports = {
        i: r
        for i, r in enumerate(case.records)
        if r.kind is RecordKind.IMAGING_REPORT and r.status is RecordStatus.RECEIVED
    }
    studies = {
        i: r
        for i, r in enumerate(case.records)
        if r.kind is RecordKind.IMAGING_STUDY and r.status is RecordStatus.RECEIVED
    }
    by_id = {r.id: i for i, r in reports.items() if r.id}
    paired_reports: set[int] = set()
    for si, s in studies.items():
        match = by_id.get(s.report) if s.report else None
        if match is None and s.date:
            # No explicit link: pair with a report of the same date (within a day).
            near = [i for i, r in reports.items() if r.date and abs((r.date - s.date).days) <= 1]
            match = near[0] if near else None
        if match is None:
            yield Finding(
                "imaging.study-without-report",
                Severity.WARNING,
                "an imaging study has no matching imaging report",
                "add the radiologist's report for this scan (link it with report: <id>)",
                **loaded.where(("records", si)),
            )
        else:
            paired_reports.add(match)
    for ri in reports:
        if ri not in paired_reports:
            yield Finding(
                "imaging.report-without-study",
                Severity.INFO,
                "an imaging report has no DICOM study in the case",
                "ask radiology for the images of this scan (DICOM) if the reviewers need them",
                **loaded.where(("records", ri)),
            )


def _start_of(case: Case, key: KeyPath) -> date | None:
    _, kind, i, _ = key
    assert isinstance(kind, str) and isinstance(i, int)
    item = getattr(case.treatment, kind)[i]
    start: date | None = item.start
    return start


_NAMES = {
    "onset": "a symptom's onset date",
    "start": "a start date",
    "end": "an end date",
    "shipped": "a shipping date",
    "prepared": "the prepared date",
    "sent": "the sent date",
    "received": "an opinion's received date",
}


def _name(key: KeyPath) -> str:
    last = key[-1]
    if key[0] == "diagnosis" and key[-1] == "date" and len(key) == 2:
        return "the date of diagnosis"
    if key[0] == "records":
        return "a record's requested date" if last == "requested" else "a record's date"
    if key[0] == "treatment" and key[1] == "surgery":
        return "a surgery date"
    return _NAMES.get(str(last), "a date")

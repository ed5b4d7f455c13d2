"""`request`: records-request letters and release authorisations, one set per facility.

What is wanted comes from two places: records the case file marks ``status: requested``
(asked for, not received), and what the profile finds missing (``missing.*`` findings of
record kinds, DICOM imaging and slides). Each item is addressed to the facility that
holds it: the record's ``source``, else the facility of related records (imaging CDs from
whoever wrote the imaging reports, slides from the pathology department), else the
treating oncologist's facility.

For each facility: a letter (PDF and text) naming the patient, the records wanted, the
purpose and where to send them, and a release-of-information authorisation prefilled
with what a valid one needs (who discloses, to whom, what, purpose, expiry, signature and
date, the signer's authority when a parent or guardian signs) for the patient or
guardian to sign.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from opinionkit.check import CaseResult, UsableCase, check_case
from opinionkit.errors import OutputError
from opinionkit.models import Case, RecordKind, RecordStatus, SignerRole
from opinionkit.options import RequestOptions
from opinionkit.output import folder_guard
from opinionkit.pdf import AtomicDir, atomic_write
from opinionkit.render.templating import compile_pdf, font_stack, render_template

REQUEST_SCHEMA = "opinionkit.requests/1"

# record kind -> how a records department understands it
WANTED_TEXT = {
    RecordKind.PATHOLOGY_REPORT: "the final pathology report(s), including addenda",
    RecordKind.GENOMIC_REPORT: "genomic and molecular test reports (NGS, FISH, IHC, PCR)",
    RecordKind.IMAGING_REPORT: "the written reports of all imaging (CT, MRI, PET, X-ray, ultrasound)",
    RecordKind.IMAGING_STUDY: "the imaging studies themselves in DICOM format, on CD/DVD or by secure image transfer",
    RecordKind.LAB_REPORT: "recent laboratory results",
    RecordKind.OPERATIVE_REPORT: "operative reports",
    RecordKind.RADIATION_SUMMARY: "the radiation treatment summary (dose, fractions, fields, dates)",
    RecordKind.CONSULTATION_LETTER: "the two most recent oncology consultation letters or clinic notes",
    RecordKind.TREATMENT_PLAN: "the treatment plan and chemotherapy flow sheets",
    RecordKind.DISCHARGE_SUMMARY: "discharge summaries",
    RecordKind.RELEASE_AUTHORIZATION: "a signed release authorisation",
    RecordKind.INSURANCE_CARD: "a copy of the insurance card",
    RecordKind.OTHER: "other records",
}
SLIDES_TEXT = "pathology slides and paraffin tissue blocks (or digital slides)"


@dataclass
class WantedItem:
    what: str
    kind: str
    record: int | None = None
    """Index of the case's record this item is (status: requested), if any."""
    accession_numbers: list[str] = field(default_factory=list)


@dataclass
class FacilityRequest:
    number: int
    facility: str
    items: list[WantedItem]
    mrn: str | None = None
    contact: dict[str, Any] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.facility.lower()).strip("-")[:40] or "facility"


def _sources(case: Case, kinds: set[RecordKind]) -> list[str]:
    out: list[str] = []
    for r in case.records:
        if r.kind in kinds and r.source and r.source not in out:
            out.append(r.source)
    return out


def plan_requests(checked: CaseResult) -> list[FacilityRequest]:
    """Who to ask for what. Empty when nothing is missing or requested."""
    usable = checked.usable()
    case = usable.case
    home = case.care_team.treating_oncologist.facility or "the treating oncologist's hospital"
    wanted: dict[str, list[WantedItem]] = {}

    def want(facility: str, item: WantedItem) -> None:
        items = wanted.setdefault(facility, [])
        if all(i.what != item.what for i in items):
            items.append(item)

    requested_kinds: set[RecordKind] = set()
    for i, rec in enumerate(case.records):
        if rec.status is RecordStatus.REQUESTED:
            requested_kinds.add(rec.kind)
            facility = rec.source or home
            want(facility, WantedItem(f"{rec.title} ({WANTED_TEXT[rec.kind]})", rec.kind.value, i))

    requirements = {r.id: r for r in usable.profile.requirements}
    for f in checked.findings:
        if not f.code.startswith("missing."):
            continue
        req = requirements.get(f.code.removeprefix("missing."))
        if req is None:
            continue
        if req.check == "slides":
            accessions = [
                a for m in case.physical_materials for a in m.accession_numbers if m.shipped is None
            ]
            for facility in _sources(case, {RecordKind.PATHOLOGY_REPORT}) or [home]:
                want(facility, WantedItem(SLIDES_TEXT, "slides", accession_numbers=accessions))
            continue
        kinds: list[RecordKind] = []
        if req.check == "records" and "kind" in req.options:
            kinds = [RecordKind(req.options["kind"])]
        elif req.check == "records-any":
            kinds = [RecordKind(k) for k in req.options.get("kinds", [])]
        for kind in kinds:
            if kind in requested_kinds or kind is RecordKind.RELEASE_AUTHORIZATION:
                continue  # already tracked; the authorisation is enclosed with every letter
            if kind is RecordKind.IMAGING_STUDY:
                facilities = _sources(case, {RecordKind.IMAGING_REPORT}) or [home]
            else:
                facilities = [home]
            for facility in facilities:
                want(facility, WantedItem(WANTED_TEXT[kind], kind.value))
    mrns = {m.institution: m.mrn for m in case.patient.mrns}
    contacts = {
        c.facility: c
        for c in [case.care_team.treating_oncologist, *case.care_team.others]
        if c.facility
    }
    out = []
    for n, (facility, items) in enumerate(sorted(wanted.items()), start=1):
        contact = contacts.get(facility)
        out.append(
            FacilityRequest(
                n,
                facility,
                items,
                mrns.get(facility),
                {
                    "name": contact.name if contact else None,
                    "phone": contact.phone if contact else None,
                    "fax": contact.fax if contact else None,
                    "address": contact.address if contact else None,
                },
            )
        )
    return out


@dataclass
class RequestResult:
    out: Path
    requests: list[FacilityRequest]
    files: list[str]
    summary: dict[str, Any] = field(default_factory=dict)
    """What ``requests.json`` holds (schema ``opinionkit.requests/1``)."""


def request_case(path: Path | str, options: RequestOptions | None = None) -> RequestResult:
    """Check a case and write its requests folder (nothing when nothing is missing or
    requested: ``requests`` is then empty and no folder is written)."""
    options = options or RequestOptions()
    usable = check_case(path, options.check).usable()
    out = options.out or Path.cwd() / f"{usable.case.case_id}-requests"
    if not plan_requests(usable.result):
        return RequestResult(out, [], [], _summary(usable.case, [], []))
    return write_requests(
        usable.result, out, force=options.force, when=options.when, templates_dir=options.templates
    )


def _summary(case: Case, plan: list[FacilityRequest], files: list[str]) -> dict[str, Any]:
    return {
        "schema": REQUEST_SCHEMA,
        "case_id": case.case_id,
        "requests": [{**asdict(r), "slug": r.slug} for r in plan],
        "files": files,
    }


def _signer(case: Case, day: date) -> dict[str, Any]:
    if case.age_on(day) < 18 or case.sender.role is SignerRole.GUARDIAN:
        g = next((g for g in case.guardians if g.legal_authority), None) or (
            case.guardians[0] if case.guardians else None
        )
        if g is not None:
            return {
                "name": g.name,
                "relationship": g.relationship,
                "authority": True,
                "phone": g.phone,
                "address": g.address,
            }
    p = case.patient
    return {
        "name": p.name,
        "relationship": None,
        "authority": False,
        "phone": p.phone,
        "address": p.address,
    }


def write_requests(
    checked: CaseResult,
    out: Path,
    *,
    force: bool = False,
    when: date | None = None,
    templates_dir: Path | None = None,
) -> RequestResult:
    """Write one letter (PDF and text) and one authorisation per facility into ``out``
    (built aside and swapped in whole; it replaces only opinionkit's own earlier output)."""
    usable: UsableCase = checked.usable()
    case = usable.case
    day = when or case.prepared or date.today()
    plan = plan_requests(checked)
    files: list[str] = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out.parent}: cannot create the folder ({e.strerror})") from None
    with AtomicDir(
        out, force=force, guard=folder_guard(usable.inputs()), inventory="request"
    ) as tmp:
        for req in plan:
            ctx = {
                "case": case,
                "patient": case.patient,
                "case_id": case.case_id,
                "recipient": case.recipient,
                "generated": day,
                "request": req,
                "items": req.items,
                "facility": req.facility,
                "mrn": req.mrn,
                "contact": req.contact,
                "signer": _signer(case, day),
                "oncologist": case.care_team.treating_oncologist,
                "expires": day + timedelta(days=365),
                "document_title": "Records request",
                "font_stack": font_stack(case),
            }
            stem = f"{case.case_id}-request-{req.number:02d}-{req.slug}"
            pdf = compile_pdf(
                render_template("request.typ.j2", ctx, templates_dir), "request.typ.j2", day
            )
            text = render_template("request.txt.j2", ctx, templates_dir, text=True)
            auth = compile_pdf(
                render_template(
                    "authorization.typ.j2",
                    {**ctx, "document_title": "Authorisation"},
                    templates_dir,
                ),
                "authorization.typ.j2",
                day,
            )
            for name, data in (
                (f"{stem}.pdf", pdf),
                (f"{stem}.txt", text.encode()),
                (f"{case.case_id}-authorisation-{req.number:02d}-{req.slug}.pdf", auth),
            ):
                atomic_write(tmp / name, data, force=True, sync=False)  # AtomicDir fsyncs
                files.append(name)
        summary = _summary(case, plan, [*files, "requests.json"])
        atomic_write(
            tmp / "requests.json",
            (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode(),
            force=True,
            sync=False,  # AtomicDir fsyncs it
        )
        files.append("requests.json")
    return RequestResult(out, plan, files, summary)

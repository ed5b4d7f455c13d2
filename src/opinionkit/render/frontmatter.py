"""The packet's front matter: cover letter, case summary, index, imaging index, materials.

Input and output::

    FrontMatterInput(case, profile_title, generated, enclosures=[...], imaging=[...],
                     missing=[...], volumes=1, first_page_number=1)
    render_front_matter(inp, templates_dir=None) -> FrontMatter
    render_letter(inp, templates_dir=None, front=None) -> bytes       # the letter alone, PDF
    render_letter_text(inp, templates_dir=None, front=None) -> str    # plain text

Page numbers: the caller gives every enclosure's pages (and every imaging study's report
page) **relative to the first record page**: the first page after the front matter is 1.
The front matter's own length depends on the index's (which may grow by a page when its
numbers get longer), so :func:`render_front_matter` renders, counts pages, and re-renders
with the corrected offset until the length is stable (at most :data:`MAX_ROUNDS` rounds).
It returns the absolute numbers it printed: absolute = ``first_page_number - 1 +
front_pages + relative``; ``FrontMatter.first_record_page`` is the first record's.

Each section is its own PDF (the caller makes each a part with its own bookmark). The
imaging index is left out when there are no studies, the materials list when nothing is
shipped separately. Typst compiles are few: a section is compiled again only when its
Typst source changed, and a section whose source does not depend on page numbers (the
letter and summary as shipped) is compiled once.

Deterministic: the same input gives byte-identical PDFs (dates come from
``generated``; no clock is read).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pikepdf

from opinionkit.errors import InputError
from opinionkit.models import Case, MaterialKind, Reason, SignerRole, Stage
from opinionkit.render.templating import compile_pdf, font_stack, render_template

__all__ = [
    "MAX_ROUNDS",
    "SECTIONS",
    "Enclosure",
    "FrontMatter",
    "FrontMatterInput",
    "ImagingStudy",
    "Section",
    "context",
    "render_front_matter",
    "render_letter",
    "render_letter_text",
]

MAX_ROUNDS = 5
"""Layout rounds before :func:`render_front_matter` gives up on a length that never settles."""

LINK_PREFIX = "opinionkit:page/"
"""``#link("opinionkit:page/37")[..]`` becomes a GoTo to the page printed as 37 when the
packet is assembled (:mod:`opinionkit.pdf.assemble`)."""

_PROBE_OFFSET = 100_000
"""An offset no real packet has: a section whose source is the same at offset 0 and at
this one does not print page numbers."""

REASONS = {
    Reason.CONFIRM_DIAGNOSIS: "to confirm the diagnosis",
    Reason.RARE_CANCER: "because this is a rare cancer",
    Reason.EXPLORE_OPTIONS: "to explore all treatment options",
    Reason.UNCLEAR_TYPE_OR_STAGE: "because the type or stage of the cancer is unclear",
    Reason.CHOOSE_BETWEEN_OPTIONS: "to help choose between the options offered",
    Reason.INSURER_REQUIRES: "because the insurer requires a second opinion",
    Reason.COMMUNICATION_DIFFICULTY: "because of difficulties communicating with the current team",
    Reason.OTHER: "for another reason",
}


def reason_texts(case: Case) -> list[str]:
    """Why the opinion is sought, as phrases; ``other`` carries ``request.other_reason``."""
    out = []
    for r in case.request.reasons:
        if r is Reason.OTHER and case.request.other_reason:
            out.append(f"{REASONS[r]}: {case.request.other_reason.rstrip('.')}")
        else:
            out.append(REASONS[r])
    return out


MATERIAL_LABELS = {
    MaterialKind.SLIDES: "Glass slides",
    MaterialKind.BLOCKS: "Tissue blocks",
    MaterialKind.DIGITAL_SLIDES: "Digital slides",
    MaterialKind.IMAGING_CD: "Imaging CD/DVD",
    MaterialKind.OTHER: "Other",
}


@dataclass
class Enclosure:
    """One record in the index.

    ``first_page``/``last_page`` are relative to the first record page (1 = the first page
    after the front matter) in :class:`FrontMatterInput`, and absolute (the numbers printed
    on the pages) in :class:`FrontMatter` and in what templates see. ``None`` for a record
    that is not enclosed.
    """

    category: str
    """Category heading, e.g. "Pathology"; the index groups by it in order of appearance."""
    title: str
    date: date | None
    source: str | None
    first_page: int | None
    last_page: int | None
    volume: int | None = 1
    """Volume holding it, when the packet is split (``--max-size``)."""
    status: str = "enclosed"
    """"enclosed"; "requested" (asked for, not yet received: listed, no pages); or
    "withheld" (received, but left out: another patient's, unreadable ...; listed, no
    pages, and the letter lists why)."""
    language: str | None = None
    translated: bool = False
    """An English translation follows it."""
    withheld_pages: int = 0
    """Pages of the record its ``withhold:`` left out of the packet (the index says so)."""

    @property
    def enclosed(self) -> bool:
        return self.status == "enclosed" and self.first_page is not None

    @property
    def pages(self) -> str:
        """ "37–41", "37", or "" when not enclosed."""
        if self.first_page is None or self.last_page is None:
            return ""
        if self.first_page == self.last_page:
            return str(self.first_page)
        return f"{self.first_page}–{self.last_page}"

    @property
    def page_count(self) -> int:
        if self.first_page is None or self.last_page is None:
            return 0
        return self.last_page - self.first_page + 1


@dataclass
class ImagingStudy:
    """One DICOM study copied beside the packet."""

    date: date | None
    modality: str | None
    description: str | None
    series_count: int
    image_count: int
    location: str
    """Folder beside the packet, e.g. ``imaging/study-01/``."""
    report_page: int | None = None
    """First page of the paired report (relative on input, absolute in the output)."""


@dataclass
class FrontMatterInput:
    """Everything the front matter says; independent of how the packet is assembled."""

    case: Case
    profile_title: str
    generated: date
    """The packet's date: printed on the letter and set as the PDFs' date."""
    enclosures: list[Enclosure] = field(default_factory=list)
    """In packet order (grouped by category, reviewer order); page numbers relative."""
    imaging: list[ImagingStudy] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Plain-language problems; non-empty only for a packet made with --allow-incomplete."""
    volumes: int = 1
    first_page_number: int = 1
    """The number printed on the packet's first page (the letter's first page)."""

    @property
    def case_id(self) -> str:
        return self.case.case_id


@dataclass
class Section:
    key: str
    """letter, summary, index, imaging or materials."""
    title: str
    """Bookmark title, e.g. "Case summary"."""
    pdf: bytes
    pages: int
    first_page: int = 0
    """Absolute number printed on its first page."""


@dataclass
class FrontMatter:
    sections: list[Section]
    pages: int
    """Front-matter length: the sum of the sections' pages."""
    enclosures: list[Enclosure]
    """With absolute page numbers."""
    imaging: list[ImagingStudy]
    """With absolute report pages."""
    first_record_page: int = 0
    """Absolute number printed on the first record page: ``first_page_number + pages``."""
    compiles: int = 0
    """Typst compiles it took (for measurement)."""

    @property
    def offset(self) -> int:
        """What turns a relative record page into the printed one (``relative + offset``)."""
        return self.first_record_page - 1


SECTIONS = (
    ("letter", "Cover letter", "letter.typ.j2"),
    ("summary", "Case summary", "summary.typ.j2"),
    ("index", "Index of enclosures", "index.typ.j2"),
    ("imaging", "Imaging index", "imaging.typ.j2"),
    ("materials", "Materials shipped separately", "materials.typ.j2"),
)
"""(key, bookmark title, template) of every section, in packet order."""


def _page_count(pdf: bytes) -> int:
    with pikepdf.Pdf.open(io.BytesIO(pdf)) as doc:
        return len(doc.pages)


def stage_text(stage: Stage | None) -> str:
    """ "IIIA (cT2b N2 M0), AJCC TNM 8th edition"; "" when nothing is known."""
    if stage is None:
        return ""
    tnm = " ".join(x for x in (stage.t, stage.n, stage.m) if x)
    head = " ".join(x for x in (stage.group, f"({tnm})" if tnm else "") if x)
    if stage.risk_group:
        head = f"{head}, {stage.risk_group}" if head else stage.risk_group
    if not head:
        return ""  # a staging system alone says nothing
    system = stage.system or ""
    if system and stage.edition:
        system = f"{system} {stage.edition} edition"
    return f"{head}, {system}" if system else head


def _timeline(case: Case) -> list[tuple[date, str]]:
    """Dated events: symptoms, diagnosis, biomarker results, surgery, systemic therapy and
    radiation, sorted by date (stable: same-day events keep this order)."""
    events: list[tuple[date, str]] = []
    d = case.diagnosis
    for s in d.symptoms:
        if s.onset:
            events.append((s.onset, f"Symptom onset: {s.description}"))
    if d.date:
        events.append((d.date, f"Diagnosis: {d.cancer_type}"))
    by_day: dict[date, list[str]] = {}
    for b in d.biomarkers:
        if b.date:
            by_day.setdefault(b.date, []).append(b.name)
    for day, names in by_day.items():
        label = "Biomarker result" if len(names) == 1 else "Biomarker results"
        events.append((day, f"{label}: {', '.join(names)}"))
    for sx in case.treatment.surgery:
        if sx.date:
            where = f" ({sx.facility})" if sx.facility else ""
            events.append((sx.date, f"Surgery: {sx.procedure}{where}"))
    for t in case.treatment.systemic:
        if t.start:
            extra = f", {t.cycles} cycles" if t.cycles else ""
            intent = f" ({t.intent})" if t.intent else ""
            events.append((t.start, f"Started {t.regimen}{intent}{extra}"))
        if t.end:
            resp = f"; response: {t.response}" if t.response else ""
            events.append((t.end, f"Finished {t.regimen}{resp}"))
    for r in case.treatment.radiation:
        dose = f" {r.dose_gy:g} Gy" if r.dose_gy else ""
        fx = f" in {r.fractions} fractions" if r.fractions else ""
        if r.start:
            events.append((r.start, f"Radiation to {r.site}{dose}{fx}"))
        if r.end:
            events.append((r.end, f"Radiation to {r.site} completed"))
    return sorted(events, key=lambda e: e[0])


def sender_details(case: Case) -> dict[str, Any]:
    """Who signs the letters, with their contact details (``case.sender``): name, role,
    kind (patient, guardian, referring-doctor), phone, email, address, facility, fax."""
    return _sender(case)


def _sender(case: Case) -> dict[str, Any]:
    """Who signs the letter, with their contact details (``case.sender``)."""
    base: dict[str, Any] = dict.fromkeys(
        ("name", "role", "kind", "phone", "email", "address", "facility", "fax")
    )
    return base | _sender_fields(case)


def _sender_fields(case: Case) -> dict[str, Any]:
    role = case.sender.role
    g = case.signing_guardian() if role is SignerRole.GUARDIAN else None
    if g is None and role is SignerRole.GUARDIAN and case.sender.name:
        # A signer the case does not list among the guardians: no one else's details.
        return {"kind": "guardian", "name": case.sender.name, "role": "guardian of the patient"}
    if g is not None:
        return {
            "kind": "guardian",
            "name": case.sender.name or g.name,
            "role": f"{g.relationship} of the patient",
            "phone": g.phone,
            "email": g.email,
            "address": g.address,
        }
    if role is SignerRole.REFERRING_DOCTOR:
        doc = case.care_team.treating_oncologist
        return {
            "kind": "referring-doctor",
            "name": case.sender.name or doc.name,
            "role": doc.role or "treating oncologist",
            "phone": doc.phone,
            "fax": doc.fax,
            "email": doc.email,
            "address": doc.address,
            "facility": doc.facility,
        }
    p = case.patient
    return {
        "kind": "patient",
        "name": case.sender.name or p.name,
        "role": "patient",
        "phone": p.phone,
        "email": p.email,
        "address": p.address,
    }


def _grouped(enclosures: Iterable[Enclosure]) -> list[tuple[str, list[Enclosure]]]:
    groups: dict[str, list[Enclosure]] = {}
    for e in enclosures:
        groups.setdefault(e.category, []).append(e)
    return list(groups.items())


def context(
    inp: FrontMatterInput,
    enclosures: list[Enclosure],
    imaging: list[ImagingStudy],
    front_pages: int,
) -> dict[str, Any]:
    """What every template sees (documented in templates/README.md). ``enclosures`` and
    ``imaging`` carry the page numbers to print; ``front_pages`` is the front matter's
    length those numbers assume."""
    case = inp.case
    enclosed = [e for e in enclosures if e.enclosed]
    record_pages = sum(e.page_count for e in enclosed)
    first_record = inp.first_page_number + front_pages
    sender = _sender(case)
    return {
        "case": case,
        "patient": case.patient,
        "diagnosis": case.diagnosis,
        "stage": stage_text(case.diagnosis.stage),
        "treatment": case.treatment,
        "request": case.request,
        "recipient": case.recipient,
        "case_id": case.case_id,
        "age": case.age_on(inp.generated),
        "profile_title": inp.profile_title,
        "generated": inp.generated,
        "reasons": reason_texts(case),
        "insurance": case.insurance,
        "questions": case.request.all_questions,
        "primary_question": case.request.primary_question,
        "further_questions": list(case.request.questions),
        "enclosures": list(enclosures),
        "enclosed": enclosed,
        "requested": [e for e in enclosures if e.status == "requested"],
        "withheld": [e for e in enclosures if e.status == "withheld"],
        "categories": _grouped(enclosures),
        "enclosed_categories": _grouped(enclosed),
        "imaging": list(imaging),
        "materials": list(case.physical_materials),
        "material_labels": {k.value: v for k, v in MATERIAL_LABELS.items()},
        "medications": case.medication_list,
        "no_medications": case.medications == "none",
        "allergies": case.allergy_list,
        "no_allergies": case.allergies == "none",
        "timeline": _timeline(case),
        "missing": list(inp.missing),
        "volumes": inp.volumes,
        "sender": sender,
        "oncologist": case.care_team.treating_oncologist,
        "others": list(case.care_team.others),
        "guardians": list(case.guardians),
        "first_page_number": inp.first_page_number,
        "front_pages": front_pages,
        "first_record_page": first_record,
        "total_pages": front_pages + record_pages,
        "last_page": inp.first_page_number - 1 + front_pages + record_pages,
        "link_prefix": LINK_PREFIX,
        "font_stack": font_stack(case),
    }


def _absolute(
    inp: FrontMatterInput, front_pages: int
) -> tuple[list[Enclosure], list[ImagingStudy]]:
    offset = inp.first_page_number - 1 + front_pages
    encl = [
        replace(
            e,
            first_page=e.first_page + offset if e.first_page is not None else None,
            last_page=e.last_page + offset if e.last_page is not None else None,
        )
        for e in inp.enclosures
    ]
    imaging = [
        replace(s, report_page=s.report_page + offset if s.report_page is not None else None)
        for s in inp.imaging
    ]
    return encl, imaging


def _wanted(inp: FrontMatterInput) -> list[tuple[str, str, str]]:
    out = []
    for key, title, template in SECTIONS:
        if key == "imaging" and not inp.imaging:
            continue
        if key == "materials" and not inp.case.physical_materials:
            continue
        out.append((key, title, template))
    return out


def _source(
    inp: FrontMatterInput, template: str, front_pages: int, templates_dir: Path | None, text: bool
) -> str:
    ctx = context(inp, *_absolute(inp, front_pages), front_pages)
    return render_template(template, ctx, templates_dir, text=text)


class _Compiled:
    """Compiled PDFs by Typst source: a section is compiled again only when it changed."""

    def __init__(self, when: date) -> None:
        self.when = when
        self.cache: dict[str, tuple[bytes, int]] = {}
        self.count = 0

    def __call__(self, source: str, template: str) -> tuple[bytes, int]:
        hit = self.cache.get(source)
        if hit is None:
            pdf = compile_pdf(source, template, self.when)
            hit = self.cache[source] = (pdf, _page_count(pdf))
            self.count += 1
        return hit


def render_front_matter(inp: FrontMatterInput, templates_dir: Path | None = None) -> FrontMatter:
    """Render every front-matter section, printing exact absolute page numbers.

    Enclosure pages come in relative to the first record page and go out absolute (see
    the module docstring). Raises :class:`InputError` for a template problem, or when the
    length does not settle within :data:`MAX_ROUNDS` rounds.
    """
    wanted = _wanted(inp)
    compiled = _Compiled(inp.generated)
    # First guess of the length: sections that print no page numbers are compiled now
    # (their source is the same at any offset); the others are guessed at one page each.
    guess = 0
    for _, _, template in wanted:
        src = _source(inp, template, 0, templates_dir, False)
        if src == _source(inp, template, _PROBE_OFFSET, templates_dir, False):
            guess += compiled(src, template)[1]
        else:
            guess += 1
    for _ in range(MAX_ROUNDS):
        parts = [
            (key, title, *compiled(_source(inp, template, guess, templates_dir, False), template))
            for key, title, template in wanted
        ]
        pages = sum(p[3] for p in parts)
        if pages == guess:
            encl, imaging = _absolute(inp, pages)
            sections = []
            at = inp.first_page_number
            for key, title, pdf, n in parts:
                sections.append(Section(key, title, pdf, n, at))
                at += n
            return FrontMatter(
                sections, pages, encl, imaging, inp.first_page_number + pages, compiled.count
            )
        guess = pages
    raise InputError(
        f"the front matter's length does not settle after {MAX_ROUNDS} layouts "
        "(the index keeps changing size)",
        hint="check custom templates for content whose length depends on page numbers",
    )


def _depends_on_pages(
    inp: FrontMatterInput, template: str, templates_dir: Path | None, text: bool
) -> tuple[str, bool]:
    src = _source(inp, template, 0, templates_dir, text)
    return src, src != _source(inp, template, _PROBE_OFFSET, templates_dir, text)


def render_letter(
    inp: FrontMatterInput, templates_dir: Path | None = None, front: FrontMatter | None = None
) -> bytes:
    """The cover letter alone, as PDF (the same bytes as the packet's letter section).

    Pass ``front`` (from :func:`render_front_matter`) to reuse its letter; without it the
    letter is compiled alone, unless a custom letter prints page numbers, which need the
    whole front matter's layout."""
    if front is None:
        src, paged = _depends_on_pages(inp, "letter.typ.j2", templates_dir, False)
        if not paged:
            return compile_pdf(src, "letter.typ.j2", inp.generated)
        front = render_front_matter(inp, templates_dir)
    for s in front.sections:
        if s.key == "letter":
            return s.pdf
    raise InputError("the front matter has no cover letter")  # pragma: no cover


def render_letter_text(
    inp: FrontMatterInput, templates_dir: Path | None = None, front: FrontMatter | None = None
) -> str:
    """The cover letter as plain text (for a portal message or an e-mail).

    Page numbers, if a custom template prints any, are those of ``front`` (laid out here
    when not given)."""
    if front is None:
        text, paged = _depends_on_pages(inp, "letter.txt.j2", templates_dir, True)
        if not paged:
            return text
        front = render_front_matter(inp, templates_dir)
    return _source(inp, "letter.txt.j2", front.pages, templates_dir, True)

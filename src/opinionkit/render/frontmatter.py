"""The packet's front matter: cover letter, case summary, index, imaging index, materials.

The caller describes the packet with :class:`FrontMatterInput`; page numbers of
enclosures are given **relative to the first record page** (the first page after the front
matter is 1). :func:`render_front_matter` lays the front matter out, learns its own
length, and re-renders until the absolute page numbers it prints are exact (the index may
grow by a page when its numbers get longer). Each section is its own PDF, so the caller
can bookmark it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from pypdf import PdfReader

from opinionkit.errors import InputError
from opinionkit.models import Case, Reason, SignerRole
from opinionkit.render.templating import compile_pdf, render_template

MAX_ROUNDS = 5

REASONS = {
    Reason.CONFIRM_DIAGNOSIS: "to confirm the diagnosis",
    Reason.RARE_CANCER: "because this is a rare cancer",
    Reason.EXPLORE_OPTIONS: "to explore all treatment options",
    Reason.UNCLEAR_TYPE_OR_STAGE: "because the type or stage of the cancer is unclear",
    Reason.CHOOSE_BETWEEN_OPTIONS: "to help choose between the options offered",
    Reason.INSURER_REQUIRES: "because the insurer requires a second opinion",
    Reason.COMMUNICATION_DIFFICULTY: "because of difficulties communicating with the current team",
    Reason.OTHER: "for other reasons given below",
}


@dataclass
class Enclosure:
    """One record in the index. ``first_page``/``last_page`` are relative to the first
    record page on input and absolute (printed numbers) in what templates see."""

    category: str
    title: str
    date: date | None
    source: str | None
    first_page: int | None
    last_page: int | None
    volume: int | None = 1
    status: str = "enclosed"
    """"enclosed" or "requested" (asked for, not yet received: listed, no pages)."""
    language: str | None = None
    translated: bool = False

    @property
    def pages(self) -> str:
        if self.first_page is None or self.last_page is None:
            return ""
        if self.first_page == self.last_page:
            return str(self.first_page)
        return f"{self.first_page}–{self.last_page}"


@dataclass
class ImagingStudy:
    date: date | None
    modality: str | None
    description: str | None
    series_count: int
    image_count: int
    location: str
    """Folder beside the packet, e.g. ``imaging/study-01/``."""
    report_page: int | None = None
    """First page of the paired report (relative on input, absolute for templates)."""


@dataclass
class FrontMatterInput:
    case: Case
    profile_title: str
    generated: date
    enclosures: list[Enclosure] = field(default_factory=list)
    imaging: list[ImagingStudy] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Plain-language problems; non-empty only for a packet made with --allow-incomplete."""
    volumes: int = 1
    first_page_number: int = 1


@dataclass
class Section:
    key: str
    title: str
    pdf: bytes
    pages: int


@dataclass
class FrontMatter:
    sections: list[Section]
    pages: int
    enclosures: list[Enclosure]
    """With absolute page numbers."""
    imaging: list[ImagingStudy]


SECTIONS = (
    ("letter", "Cover letter", "letter.typ.j2"),
    ("summary", "Case summary", "summary.typ.j2"),
    ("index", "Index of enclosures", "index.typ.j2"),
    ("imaging", "Imaging index", "imaging.typ.j2"),
    ("materials", "Materials shipped separately", "materials.typ.j2"),
)


def _page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def _timeline(case: Case) -> list[tuple[date, str]]:
    events: list[tuple[date, str]] = []
    d = case.diagnosis
    for s in d.symptoms:
        if s.onset:
            events.append((s.onset, f"Symptom onset: {s.description}"))
    if d.date:
        events.append((d.date, f"Diagnosis: {d.cancer_type}"))
    for sx in case.treatment.surgery:
        if sx.date:
            where = f" ({sx.facility})" if sx.facility else ""
            events.append((sx.date, f"Surgery: {sx.procedure}{where}"))
    for t in case.treatment.systemic:
        if t.start:
            extra = f", {t.cycles} cycles" if t.cycles else ""
            events.append((t.start, f"Started {t.regimen}{extra}"))
        if t.end:
            resp = f" — response: {t.response}" if t.response else ""
            events.append((t.end, f"Finished {t.regimen}{resp}"))
    for r in case.treatment.radiation:
        if r.start:
            dose = f" {r.dose_gy:g} Gy" if r.dose_gy else ""
            fx = f" in {r.fractions} fractions" if r.fractions else ""
            events.append((r.start, f"Radiation to {r.site}{dose}{fx}"))
    by_day: dict[date, list[str]] = {}
    for b in d.biomarkers:
        if b.date:
            by_day.setdefault(b.date, []).append(b.name)
    for day, names in by_day.items():
        label = "Biomarker result" if len(names) == 1 else "Biomarker results"
        events.append((day, f"{label}: {', '.join(names)}"))
    return sorted(events, key=lambda e: e[0])


def _sender(case: Case) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(("name", "role", "phone", "email", "address", "facility"))
    return base | _sender_fields(case)


def _sender_fields(case: Case) -> dict[str, Any]:
    role = case.sender.role
    if role is SignerRole.GUARDIAN and case.guardians:
        g = case.guardians[0]
        return {
            "name": case.sender.name or g.name,
            "role": f"{g.relationship} of the patient",
            "phone": g.phone,
            "email": g.email,
            "address": g.address,
        }
    if role is SignerRole.REFERRING_DOCTOR:
        doc = case.care_team.treating_oncologist
        return {
            "name": case.sender.name or doc.name,
            "role": doc.role or "treating oncologist",
            "phone": doc.phone,
            "email": doc.email,
            "address": doc.address,
            "facility": doc.facility,
        }
    p = case.patient
    return {
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
    """What every template sees (documented in templates/README.md)."""
    case = inp.case
    total = front_pages + sum(
        (e.last_page - e.first_page + 1)
        for e in enclosures
        if e.first_page is not None and e.last_page is not None and e.status == "enclosed"
    )
    return {
        "case": case,
        "patient": case.patient,
        "diagnosis": case.diagnosis,
        "treatment": case.treatment,
        "request": case.request,
        "recipient": case.recipient,
        "case_id": case.case_id,
        "age": case.age_on(inp.generated),
        "profile_title": inp.profile_title,
        "generated": inp.generated,
        "reasons": [REASONS[r] for r in case.request.reasons],
        "questions": case.request.all_questions,
        "primary_question": case.request.primary_question,
        "further_questions": list(case.request.questions),
        "enclosures": enclosures,
        "enclosed": [e for e in enclosures if e.status == "enclosed"],
        "requested": [e for e in enclosures if e.status != "enclosed"],
        "categories": _grouped(enclosures),
        "imaging": imaging,
        "materials": list(case.physical_materials),
        "medications": case.medication_list,
        "no_medications": case.medications == "none",
        "allergies": case.allergy_list,
        "no_allergies": case.allergies == "none",
        "timeline": _timeline(case),
        "missing": inp.missing,
        "volumes": inp.volumes,
        "sender": _sender(case),
        "oncologist": case.care_team.treating_oncologist,
        "guardians": case.guardians,
        "front_pages": front_pages,
        "total_pages": total,
        "link_prefix": "opinionkit:page/",
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


def render_front_matter(inp: FrontMatterInput, templates_dir: Path | None = None) -> FrontMatter:
    """Render every front-matter section with exact page numbers."""
    wanted = _wanted(inp)
    # Sections whose content does not depend on page numbers are rendered once.
    fixed_keys = {"letter", "summary", "materials"}
    rendered: dict[str, Section] = {}
    guess = {key: 1 for key, _, _ in wanted}
    for key, title, template in wanted:
        if key in fixed_keys:
            ctx = context(inp, *_absolute(inp, 0), 0)
            pdf = compile_pdf(
                render_template(template, ctx, templates_dir), template, inp.generated
            )
            rendered[key] = Section(key, title, pdf, _page_count(pdf))
            guess[key] = rendered[key].pages
    for _ in range(MAX_ROUNDS):
        front_pages = sum(guess.values())
        encl, imaging = _absolute(inp, front_pages)
        ctx = context(inp, encl, imaging, front_pages)
        changed = False
        for key, title, template in wanted:
            if key in fixed_keys:
                continue
            pdf = compile_pdf(
                render_template(template, ctx, templates_dir), template, inp.generated
            )
            pages = _page_count(pdf)
            rendered[key] = Section(key, title, pdf, pages)
            if pages != guess[key]:
                guess[key] = pages
                changed = True
        if not changed:
            sections = [rendered[key] for key, _, _ in wanted]
            return FrontMatter(sections, front_pages, encl, imaging)
    raise InputError(
        "the front matter's length does not settle (the index keeps changing size)",
        hint="check custom templates for content that depends on page numbers",
    )


def render_letter(
    inp: FrontMatterInput, templates_dir: Path | None = None, front: FrontMatter | None = None
) -> bytes:
    """The cover letter alone, as PDF."""
    if front is not None:
        for s in front.sections:
            if s.key == "letter":
                return s.pdf
    encl, imaging = _absolute(inp, 0)
    ctx = context(inp, encl, imaging, 0)
    return compile_pdf(
        render_template("letter.typ.j2", ctx, templates_dir), "letter.typ.j2", inp.generated
    )


def render_letter_text(
    inp: FrontMatterInput, templates_dir: Path | None = None, front: FrontMatter | None = None
) -> str:
    """The cover letter as plain text (for a portal message or an e-mail)."""
    if front is not None:
        encl, imaging, pages = front.enclosures, front.imaging, front.pages
    else:
        encl, imaging = _absolute(inp, 0)
        pages = 0
    ctx = context(inp, encl, imaging, pages)
    return render_template("letter.txt.j2", ctx, templates_dir, text=True)

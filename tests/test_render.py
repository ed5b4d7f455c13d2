"""opinionkit.render: escaping, strictness, overrides, exact page numbers, determinism."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from opinionkit.errors import InputError
from opinionkit.models import Case
from opinionkit.render import (
    Enclosure,
    FrontMatterInput,
    ImagingStudy,
    render_front_matter,
    render_letter,
    render_letter_text,
    render_template,
)
from opinionkit.render.templating import environment

HOSTILE = [
    '# * _ $ @ < > [ ] \\ " `tick` ~ // /* x */ + -',
    "#set text(red)",
    '#read("/etc/passwd")',
    "= Heading at line start",
    "- list item\n+ numbered",
    "$x^2$ and @ref and <label>",
    "Zoë Ørsted-Ünal",
    "O'Brien \\ \\\\ end",
]


def case(**patient: Any) -> Case:
    data: dict[str, Any] = {
        "case_id": "R-001",
        "profile": "adult-general",
        "patient": {
            "name": "Ada Testperson",
            "date_of_birth": "1970-05-06",
            "phone": "555-0100",
            "mrns": [{"institution": "Riverbend", "mrn": "00123"}],
            **patient,
        },
        "care_team": {"treating_oncologist": {"name": "Dr. Omar Fictus", "phone": "555-0101"}},
        "request": {
            "primary_question": "Is surgery an option?",
            "questions": ["What about trials?"],
            "reasons": ["confirm-diagnosis"],
        },
        "diagnosis": {
            "cancer_type": "Lung adenocarcinoma",
            "date": "2026-06-02",
            "symptoms": [{"description": "cough", "onset": "2026-04-01"}],
            "biomarkers": [
                {
                    "name": "EGFR",
                    "result": "exon 19 deletion",
                    "method": "NGS",
                    "date": "2026-06-20",
                }
            ],
        },
        "treatment": {
            "plan": "Chemotherapy",
            "radiation": [{"site": "chest", "dose_gy": 60, "fractions": 30, "start": "2026-07-01"}],
        },
        "medications": [
            {
                "name": "ondansetron",
                "dose": 8,
                "unit": "mg",
                "route": "oral",
                "frequency": "every 8 hours",
                "timing": "as needed",
            }
        ],
        "allergies": "none",
    }
    return Case.model_validate(data)


def inp(c: Case | None = None, n: int = 3, **kw: Any) -> FrontMatterInput:
    enclosures = [
        Enclosure(
            "Pathology" if i < n // 2 else "Imaging reports",
            f"Record {i + 1}",
            date(2026, 6, 2),
            "Riverbend",
            1 + 2 * i,
            2 + 2 * i,
        )
        for i in range(n)
    ]
    return FrontMatterInput(c or case(), "Adult general", date(2026, 11, 20), enclosures, **kw)


def text_of(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def links(pdf: bytes) -> list[tuple[int, str]]:
    out = []
    for n, page in enumerate(PdfReader(io.BytesIO(pdf)).pages, start=1):
        for annot in page.get("/Annots") or []:
            a = annot.get_object()
            action = a.get("/A")
            if action is not None and "/URI" in action:
                out.append((n, str(action["/URI"])))
    return out


@pytest.mark.parametrize("value", HOSTILE)
def test_case_values_print_literally_and_never_run(value: str) -> None:
    c = case(name=value, address=value)
    fm = render_front_matter(inp(c))
    letter = fm.sections[0]
    text = " ".join(text_of(letter.pdf).split())
    assert " ".join(value.split()) in text
    summary = " ".join(text_of(fm.sections[1].pdf).split())
    assert " ".join(value.split()) in summary


def test_escaping_is_the_default_for_every_expression(tmp_path: Path) -> None:
    (tmp_path / "t.typ.j2").write_text("A {{ x }} B {{ n }} C {{ d }}\n")
    src = render_template(
        "t.typ.j2", {"x": '#sym.alpha *b* "q"', "n": 37, "d": date(2026, 1, 2)}, tmp_path
    )
    assert src == 'A #"#sym.alpha *b* \\"q\\""; B 37 C #"2026-01-02";\n'


def test_undefined_variables_are_errors_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text("Hello {{ no_such_thing }}\n")
    with pytest.raises(InputError, match=r"letter\.typ\.j2.*no_such_thing"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_a_user_template_overrides_and_extends_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text(
        '{% extends "shipped/letter.typ.j2" %}\n'
        "{% block closing %}With kind regards from the Riverbend records office.{% endblock %}\n"
    )
    fm = render_front_matter(inp(), templates_dir=tmp_path)
    text = " ".join(text_of(fm.sections[0].pdf).split())
    assert "With kind regards from the Riverbend records office." in text
    assert "Is surgery an option?" in text  # the rest of the shipped letter is still there
    assert "Yours sincerely" not in text


def test_the_sandbox_refuses_unsafe_attribute_access(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text("{{ case.__class__.__mro__ }}\n")
    with pytest.raises(InputError, match=r"summary\.typ\.j2"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_typst_package_imports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text('#import "@preview/cetz:0.3.0": canvas\n')
    with pytest.raises(InputError, match="package imports"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_templates_cannot_read_case_files(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text('#read("../../../../etc/hostname")\n')
    with pytest.raises(InputError, match=r"summary\.typ\.j2"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_index_page_numbers_are_exact_when_the_index_spans_pages() -> None:
    fm = render_front_matter(inp(n=80))
    index = next(s for s in fm.sections if s.key == "index")
    assert index.pages >= 2
    assert fm.pages == sum(s.pages for s in fm.sections)
    # relative page 1 of the records is printed page front+1
    first = fm.enclosures[0]
    assert first.first_page == fm.pages + 1
    uris = [u for _, u in links(index.pdf)]
    assert f"opinionkit:page/{fm.pages + 1}" in uris
    assert f"opinionkit:page/{fm.pages + 1 + 2 * 79}" in uris  # the 80th record
    text = " ".join(text_of(index.pdf).split())
    last = fm.enclosures[-1]
    assert f"{last.first_page}–{last.last_page}" in text


def test_imaging_index_links_to_the_reports_page() -> None:
    study = ImagingStudy(date(2026, 9, 14), "CT", "CT CHEST", 2, 120, "imaging/study-01/", 3)
    fm = render_front_matter(inp(imaging=[study]))
    imaging = next(s for s in fm.sections if s.key == "imaging")
    assert ("opinionkit:page/" + str(fm.pages + 3)) in [u for _, u in links(imaging.pdf)]
    assert "imaging/study-01/" in text_of(imaging.pdf)


def test_rendering_is_deterministic() -> None:
    a = render_front_matter(inp())
    b = render_front_matter(inp())
    assert [s.pdf for s in a.sections] == [s.pdf for s in b.sections]


def test_plain_text_letter_has_the_question_and_is_not_escaped() -> None:
    c = case(name="Ada *Test* #person")
    text = render_letter_text(inp(c, missing=["no pathology report"]))
    assert "Is surgery an option?" in text
    assert "Ada *Test* #person" in text
    assert "INCOMPLETE" in text and "no pathology report" in text


def test_letter_alone_and_requested_records() -> None:
    data = inp()
    data.enclosures.append(
        Enclosure("Laboratory", "Blood count", None, None, None, None, status="requested")
    )
    pdf = render_letter(data)
    text = " ".join(text_of(pdf).split())
    assert "Still requested" in text and "Blood count" in text


def test_environment_is_cached_per_template_folder(tmp_path: Path) -> None:
    assert environment(None) is environment(None)
    assert environment(tmp_path) is not environment(None)


def test_letter_keeps_lists_and_contacts_on_their_own_lines() -> None:
    c = case()
    data = c.model_dump()
    data["request"]["questions"] = ["First further question?", "Second further question?"]
    data["guardians"] = [
        {
            "name": "Bea Guardian",
            "relationship": "mother",
            "phone": "555-0102",
            "legal_authority": True,
        }
    ]
    lines = [
        ln.strip() for ln in text_of(render_letter(inp(Case.model_validate(data)))).splitlines()
    ]
    assert "Further questions:" in lines
    assert any(ln.endswith("First further question?") and ln[0].isdigit() for ln in lines)
    assert any(ln.startswith("Mother:") for ln in lines)  # not run on after the oncologist

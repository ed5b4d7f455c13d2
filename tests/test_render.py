"""opinionkit.render: escaping, strictness, overrides, exact page numbers, determinism."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from opinionkit.errors import InputError
from opinionkit.models import Case
from opinionkit.render import (
    MAX_ROUNDS,
    Enclosure,
    FrontMatter,
    FrontMatterInput,
    ImagingStudy,
    finalize,
    render_front_matter,
    render_letter,
    render_letter_text,
    render_template,
    typst_string,
)
from opinionkit.render.frontmatter import context
from opinionkit.render.templating import environment, shipped_templates

GENERATED = date(2026, 11, 20)
MM = 72 / 25.4

HOSTILE = [
    '# * _ $ @ < > [ ] \\ " `tick` ~ // /* x */ + -',
    "#set page(fill: red)",
    '#panic("injected")',
    '#read("/etc/passwd")',
    '"); #panic("x"); ("',
    '\\"; #panic("x"); "',
    "]#panic(1)[",
    '#link("opinionkit:page/1")[click]',
    "= Heading at line start",
    "- list item\n+ numbered\n/ term: x",
    "line one\nline two // not a comment",
    "/* unclosed comment",
    "$x^2$ and @ref and <label> and \\u{41}",
    "```raw``` and `inline` ~~ non-breaking",
    "Zoë Ørsted-Ünal, Ćwik, Þór",
    "O'Brien \\ \\\\ end",
    "محمد عبد الله",
    "{{ not jinja }} {% neither %}",
]


def base_data(**patient: Any) -> dict[str, Any]:
    return {
        "case_id": "R-001",
        "profile": "adult-general",
        "patient": {
            "name": "Ada Testperson",
            "date_of_birth": "1970-05-06",
            "phone": "555-0100",
            "address": "1 Example Street\nExample Town",
            "mrns": [{"institution": "Riverbend", "mrn": "00123"}],
            **patient,
        },
        "care_team": {
            "treating_oncologist": {
                "name": "Dr. Omar Fictus",
                "facility": "Riverbend Cancer Centre",
                "phone": "555-0101",
            }
        },
        "recipient": {"name": "Dr. Rhea Reviewer", "facility": "Meridian Hospital"},
        "request": {
            "primary_question": "Is surgery an option?",
            "questions": ["What about trials?"],
            "reasons": ["confirm-diagnosis", "explore-options"],
        },
        "diagnosis": {
            "cancer_type": "Lung adenocarcinoma",
            "date": "2026-06-02",
            "stage": {"system": "AJCC TNM", "edition": "8th", "t": "cT2b", "group": "IIIA"},
            "grade": "2",
            "symptoms": [{"description": "cough", "onset": "2026-04-01"}],
            "biomarkers": [
                {
                    "name": "EGFR",
                    "result": "exon 19 deletion",
                    "method": "NGS",
                    "date": "2026-06-20",
                }
            ],
            "performance_status": {"scale": "ECOG", "score": 1},
        },
        "treatment": {
            "plan": "Chemotherapy",
            "systemic": [{"regimen": "carboplatin + pemetrexed", "start": "2026-07-10"}],
            "radiation": [{"site": "chest", "dose_gy": 60, "fractions": 30, "start": "2026-07-01"}],
            "surgery": [{"procedure": "mediastinoscopy", "date": "2026-05-20"}],
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


def case(**patient: Any) -> Case:
    return Case.model_validate(base_data(**patient))


def enclosures(n: int, pages_each: int = 2) -> list[Enclosure]:
    """n records in two categories, each ``pages_each`` pages, relative numbering."""
    return [
        Enclosure(
            "Pathology" if i < n // 2 else "Imaging reports",
            f"Record {i + 1}",
            date(2026, 6, 2),
            "Riverbend",
            1 + pages_each * i,
            pages_each * (i + 1),
        )
        for i in range(n)
    ]


def inp(c: Case | None = None, n: int = 3, **kw: Any) -> FrontMatterInput:
    return FrontMatterInput(c or case(), "Adult general", GENERATED, enclosures(n), **kw)


def reader(pdf: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(pdf))


def text_of(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in reader(pdf).pages)


def flat(text: str) -> str:
    return " ".join(text.split())


def present(value: str, text: str) -> bool:
    """``value`` (whitespace-normalised) is in ``text``. Right-to-left words come out of
    pypdf in visual order (last word first), so an Arabic value may appear word-reversed."""
    want = flat(value)
    if want in text:
        return True
    rtl = any("\u0590" <= ch <= "\u08ff" for ch in want)
    return rtl and " ".join(reversed(want.split())) in text


def links(pdf: bytes) -> list[tuple[int, str]]:
    out = []
    for n, page in enumerate(reader(pdf).pages, start=1):
        for annot in page.get("/Annots") or []:
            a = annot.get_object()
            action = a.get("/A")
            if action is not None and "/URI" in action:
                out.append((n, str(action["/URI"])))
    return out


def section(fm: FrontMatter, key: str) -> bytes:
    return next(s.pdf for s in fm.sections if s.key == key)


# --- escaping -----------------------------------------------------------------------------


def test_finalize_turns_every_value_into_a_typst_string() -> None:
    assert finalize('#sym.alpha *b* "q"') == '#"#sym.alpha *b* \\"q\\"";'
    assert finalize("a\\b\nc\td\x07") == '#"a\\\\b\\nc d\\u{7}";'
    assert finalize(None) == "" and finalize("") == ""
    assert finalize(37) == "37" and finalize(True) == "yes"
    assert finalize(date(2026, 1, 2)) == '#"2026-01-02";'
    assert typst_string("\ud800x") == '"\\u{fffd}x"'  # a lone surrogate cannot be encoded


def test_escaping_is_the_default_for_every_expression(tmp_path: Path) -> None:
    (tmp_path / "t.typ.j2").write_text("A {{ x }} B {{ n }} C {{ d }} D {{ x ~ '!' }}\n")
    src = render_template(
        "t.typ.j2", {"x": '#sym.alpha *b* "q"', "n": 37, "d": date(2026, 1, 2)}, tmp_path
    )
    assert src == (
        'A #"#sym.alpha *b* \\"q\\""; B 37 C #"2026-01-02"; D #"#sym.alpha *b* \\"q\\"!";\n'
    )


@pytest.mark.parametrize("value", HOSTILE)
def test_case_values_print_literally_and_never_run(value: str) -> None:
    data = base_data(name=value, address=value)
    data["request"]["primary_question"] = value
    data["diagnosis"]["cancer_type"] = value
    data["diagnosis"]["biomarkers"][0]["result"] = value
    data["medications"][0]["name"] = value
    data["physical_materials"] = [{"kind": "slides", "description": value, "carrier": "X"}]
    c = Case.model_validate(data)
    encl = [Enclosure("Pathology", value, None, value, 1, 2)]
    study = ImagingStudy(None, "CT", value, 1, 3, "imaging/study-01/", 1)
    fm = render_front_matter(
        FrontMatterInput(c, "Adult", GENERATED, encl, [study], missing=[value])
    )
    for s in fm.sections:
        assert present(value, flat(text_of(s.pdf))), s.key
    # nothing became markup: no link but the index's and imaging index's own
    assert [u for _, u in links(section(fm, "letter"))] == []
    assert {u for _, u in links(section(fm, "index"))} == {f"opinionkit:page/{fm.pages + 1}"}
    assert flat(value) in flat(render_letter_text(FrontMatterInput(c, "Adult", GENERATED)))


def test_multi_line_values_keep_their_lines() -> None:
    lines = text_of(render_letter(inp())).splitlines()
    assert "1 Example Street" in [ln.strip() for ln in lines]
    assert "Example Town" in [ln.strip() for ln in lines]


def test_chinese_names_reach_typst_as_literal_text() -> None:
    name = "王小明 · 李雷"
    data = inp(case(name=name))
    fm = render_front_matter(data)
    # The name is in the Typst source as a string literal...
    source = render_template("summary.typ.j2", context(data, data.enclosures, [], 0))
    assert f'[#"{name}";]' in source
    # ...and in the PDF on every machine: Noto Sans CJK ships with opinionkit.
    assert name in text_of(section(fm, "summary"))


# --- strictness and errors -----------------------------------------------------------------


def test_undefined_variables_are_errors_naming_the_template_and_line(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text("Hello\n\nDear {{ no_such_thing }}\n")
    with pytest.raises(InputError, match=r"letter\.typ\.j2, line 3: 'no_such_thing' is undefined"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_an_undefined_attribute_inside_an_overridden_block_names_its_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "summary.typ.j2").write_text(
        '{% extends "shipped/summary.typ.j2" %}\n'
        "{% block allergies %}\n"
        "{{ patient.no_such_field }}\n"
        "{% endblock %}\n"
    )
    with pytest.raises(InputError, match=r"summary\.typ\.j2, line 3: .*no_such_field"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_template_syntax_errors_name_the_line(tmp_path: Path) -> None:
    (tmp_path / "index.typ.j2").write_text("one\n{% if %}\n")
    with pytest.raises(InputError, match=r"index\.typ\.j2, line 2"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_typst_errors_are_input_errors_without_the_source_line(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text("{{ patient.name }}\n#nonexistent_function()\n")
    with pytest.raises(InputError, match=r"summary\.typ\.j2.*line 2") as e:
        render_front_matter(inp(), templates_dir=tmp_path)
    assert "Ada" not in str(e.value) and "Ada" not in (e.value.hint or "")


def test_a_template_extending_itself_is_a_clean_error(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text('{% extends "letter.typ.j2" %}\n')
    with pytest.raises(InputError, match=r"letter\.typ\.j2.*extends or includes itself"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_a_missing_templates_folder_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        render_front_matter(inp(), templates_dir=tmp_path / "nope")


# --- overriding and extending --------------------------------------------------------------


def test_a_user_template_overrides_and_extends_the_shipped_one(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text(
        '{% extends "shipped/letter.typ.j2" %}\n'
        "{% block closing %}With kind regards from the Riverbend records office.{% endblock %}\n"
    )
    fm = render_front_matter(inp(), templates_dir=tmp_path)
    text = flat(text_of(section(fm, "letter")))
    assert "With kind regards from the Riverbend records office." in text
    assert "Is surgery an option?" in text  # the rest of the shipped letter is still there
    assert "Yours sincerely" not in text
    # the other sections are the shipped ones
    assert "Case summary" in text_of(section(fm, "summary"))


def test_a_user_base_template_restyles_every_section(tmp_path: Path) -> None:
    (tmp_path / "base.typ.j2").write_text(
        '{% extends "shipped/base.typ.j2" %}\n'
        "{% block header %}CONFIDENTIAL MEDICAL RECORDS {{ case_id }}\n\n{% endblock %}\n"
    )
    fm = render_front_matter(inp(), templates_dir=tmp_path)
    for key in ("summary", "index"):
        assert "CONFIDENTIAL MEDICAL RECORDS R-001" in text_of(section(fm, key))


def test_a_user_template_can_call_super_and_use_the_shipped_helpers(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text(
        '{% extends "shipped/summary.typ.j2" %}\n'
        "{% block allergies %}{{ super() }}\n#small[Checked by the pharmacist.]\n{% endblock %}\n"
    )
    text = flat(text_of(section(render_front_matter(inp(), tmp_path), "summary")))
    assert "No known allergies. Checked by the pharmacist." in text


def test_the_plain_text_letter_can_be_overridden_too(tmp_path: Path) -> None:
    (tmp_path / "letter.txt.j2").write_text(
        '{% extends "shipped/letter.txt.j2" %}\n{% block closing %}\n-- {{ sender.name }}\n{% endblock %}\n'
    )
    text = render_letter_text(inp(), tmp_path)
    assert text.rstrip().endswith("-- Ada Testperson")
    assert "Is surgery an option?" in text


def test_shipped_templates_define_the_documented_blocks() -> None:
    folder = shipped_templates()
    blocks = {
        "base.typ.j2": {"setup", "header", "body"},
        "letter.typ.j2": {
            "letterhead",
            "recipient",
            "subject",
            "opening",
            "question",
            "reasons",
            "clinical",
            "enclosures",
            "materials",
            "missing",
            "contacts",
            "closing",
        },
        "summary.typ.j2": {
            "patient",
            "diagnosis",
            "biomarkers",
            "timeline",
            "medications",
            "allergies",
        },
        "index.typ.j2": {"intro", "table"},
        "imaging.typ.j2": {"intro", "table"},
        "materials.typ.j2": {"intro", "table"},
    }
    for name, want in blocks.items():
        found = set(re.findall(r"{%-?\s*block\s+(\w+)", (folder / name).read_text()))
        assert want <= found, name


# --- the sandbox ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "case.__class__.__mro__",
        "case.__init__.__globals__",
        "().__class__.__base__.__subclasses__()",
        "enclosures.append(1)",
        "missing.clear()",
    ],
)
def test_the_sandbox_refuses_unsafe_access(tmp_path: Path, expr: str) -> None:
    (tmp_path / "summary.typ.j2").write_text(f"{{{{ {expr} }}}}\n")
    with pytest.raises(InputError, match=r"summary\.typ\.j2"):
        render_front_matter(inp(missing=["kept"]), templates_dir=tmp_path)


def test_typst_package_imports_are_refused(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text('#import "@preview/cetz:0.3.0": canvas\n')
    with pytest.raises(InputError, match="package imports"):
        render_front_matter(inp(), templates_dir=tmp_path)


@pytest.mark.parametrize(
    "path",
    [
        "/etc/hostname",
        "../../../../etc/hostname",
        "/templating.py",  # the render package's own files are not the root any more
        "/__init__.py",
    ],
)
def test_typst_can_read_no_file(tmp_path: Path, path: str) -> None:
    (tmp_path / "summary.typ.j2").write_text(f"#read({typst_string(path)})\n")
    with pytest.raises(InputError, match=r"summary\.typ\.j2"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_a_template_folder_beside_the_case_is_not_readable_from_typst(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret record")
    (tmp_path / "summary.typ.j2").write_text('#read("secret.txt")\n')
    with pytest.raises(InputError):
        render_front_matter(inp(), templates_dir=tmp_path)


# --- layout: exact page numbers -------------------------------------------------------------


def test_index_page_numbers_are_exact_when_the_index_spans_pages() -> None:
    data = inp(n=80)
    fm = render_front_matter(data)
    index = section(fm, "index")
    assert len(reader(index).pages) >= 2
    assert fm.pages == sum(s.pages for s in fm.sections)
    assert fm.pages == sum(len(reader(s.pdf).pages) for s in fm.sections)
    assert fm.first_record_page == fm.pages + 1
    # every printed range is its relative one shifted by the front matter's real length
    text = flat(text_of(index))
    uris = {u for _, u in links(index)}
    for rel, absolute in zip(data.enclosures, fm.enclosures, strict=True):
        assert rel.first_page is not None and absolute.first_page is not None
        assert absolute.first_page == rel.first_page + fm.pages
        assert f"{absolute.title} 2026-06-02 Riverbend {absolute.pages}" in text
        assert f"opinionkit:page/{absolute.first_page}" in uris
    # the input is not modified
    assert data.enclosures[0].first_page == 1


def test_every_index_row_links_title_and_pages_to_its_first_page() -> None:
    fm = render_front_matter(inp(n=6))
    found = [u for _, u in links(section(fm, "index"))]
    want = [f"opinionkit:page/{e.first_page}" for e in fm.enclosures for _ in range(2)]
    assert found == want


def test_the_layout_settles_when_the_index_grows_with_its_own_numbers() -> None:
    # 41 one-page-each records: whether the index takes one page or two decides every
    # printed number; the loop must reach the fixed point, not the first guess.
    for n in (30, 41, 55):
        fm = render_front_matter(FrontMatterInput(case(), "A", GENERATED, enclosures(n, 1)))
        assert fm.pages == sum(len(reader(s.pdf).pages) for s in fm.sections)
        assert fm.enclosures[-1].last_page == fm.pages + n


def test_page_numbers_start_at_first_page_number() -> None:
    fm = render_front_matter(inp(first_page_number=101))
    assert fm.sections[0].first_page == 101
    assert fm.first_record_page == 101 + fm.pages
    assert fm.enclosures[0].first_page == fm.first_record_page
    assert f"opinionkit:page/{fm.first_record_page}" in {u for _, u in links(section(fm, "index"))}
    starts = [s.first_page for s in fm.sections]
    assert starts == [101 + sum(s.pages for s in fm.sections[:i]) for i in range(len(starts))]


def test_a_length_that_never_settles_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.typ.j2").write_text(
        "{% for i in range(front_pages) %}page\n#pagebreak()\n{% endfor %}x\n"
    )
    with pytest.raises(InputError, match=f"does not settle after {MAX_ROUNDS}"):
        render_front_matter(inp(), templates_dir=tmp_path)


def test_a_custom_letter_can_print_exact_page_numbers(tmp_path: Path) -> None:
    (tmp_path / "letter.typ.j2").write_text(
        '{% extends "shipped/letter.typ.j2" %}\n'
        "{% block closing %}First record on page {{ first_record_page }}; "
        "{{ enclosed[0].title }} at {{ enclosed[0].pages }}.{% endblock %}\n"
    )
    fm = render_front_matter(inp(n=50), templates_dir=tmp_path)
    want = f"First record on page {fm.pages + 1}; Record 1 at {fm.pages + 1}–{fm.pages + 2}."
    assert want in flat(text_of(section(fm, "letter")))
    # the letter alone, laid out without a FrontMatter, prints the same numbers
    assert render_letter(inp(n=50), tmp_path) == section(fm, "letter")
    (tmp_path / "letter.txt.j2").write_text("Records from page {{ first_record_page }}\n")
    assert render_letter_text(inp(n=50), tmp_path) == f"Records from page {fm.pages + 1}\n"


def test_sections_that_print_no_page_numbers_are_compiled_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import opinionkit.render.frontmatter as frontmatter

    compiled: list[str] = []
    real = frontmatter.compile_pdf

    def counting(source: str, name: str, when: date) -> bytes:
        compiled.append(name)
        return real(source, name, when)

    monkeypatch.setattr(frontmatter, "compile_pdf", counting)
    study = ImagingStudy(None, "CT", "CT", 1, 1, "imaging/study-01/", 2)
    fm = render_front_matter(inp(n=80, imaging=[study]))
    assert fm.compiles == len(compiled)
    assert compiled.count("letter.typ.j2") == 1
    assert compiled.count("summary.typ.j2") == 1
    # the index grew to two pages: one more layout, of the sections with page numbers only
    assert compiled.count("index.typ.j2") == compiled.count("imaging.typ.j2") == 2


def test_a_long_enclosure_list_is_summarised_by_category_in_the_letter() -> None:
    text = flat(text_of(render_letter(inp(n=40))))
    assert "Pathology: 20 records · Imaging reports: 20 records" in text
    assert "Record 7" not in text


# --- content -------------------------------------------------------------------------------


def test_the_letter_says_what_it_should() -> None:
    data = base_data()
    data["guardians"] = [
        {"name": "Bea Guardian", "relationship": "mother", "phone": "555-0102"},
    ]
    data["physical_materials"] = [
        {
            "kind": "slides",
            "description": "H&E slides",
            "count": 6,
            "carrier": "Swiftline",
            "tracking_number": "SW-1",
            "shipped": "2026-11-18",
        }
    ]
    c = Case.model_validate(data)
    front = inp(c, missing=["no pathology report"])
    front.enclosures.append(
        Enclosure("Laboratory", "Blood count", None, None, None, None, None, "requested")
    )
    text = flat(text_of(render_letter(front)))
    for want in (
        "20 November 2026",
        "Dr. Rhea Reviewer Meridian Hospital",
        "Re: Request for a second opinion — written review of records",
        "Patient: Ada Testperson · born 6 May 1970 (age 56) · case R-001",
        "The question for the reviewers Is surgery an option?",
        "1. What about trials?",
        "to confirm the diagnosis and to explore all treatment options.",
        "stage IIIA (cT2b), AJCC TNM 8th edition",
        "Pathology: Record 1 · Imaging reports: Record 2; Record 3",
        "not enclosed: Blood count",
        "H&E slides (6), by Swiftline, tracking SW-1, shipped 18 November 2026",
        "This packet is incomplete.",
        "no pathology report",
        "Mother Bea Guardian · phone 555-0102",
        "Treating oncologist Dr. Omar Fictus, Riverbend Cancer Centre · phone 555-0101",
        "Yours sincerely, Ada Testperson Patient",
    ):
        assert want in text, want
    assert text.index("Is surgery an option?") < text.index("What about trials?")


@pytest.mark.parametrize(
    ("sender", "signs", "role"),
    [
        ({"role": "guardian"}, "Bea Guardian", "Mother of the patient"),
        ({"role": "referring-doctor"}, "Dr. Omar Fictus", "Treating oncologist"),
        ({"role": "patient", "name": "Ada T."}, "Ada T.", "Patient"),
    ],
)
def test_the_letter_is_signed_by_the_sender(sender: dict[str, str], signs: str, role: str) -> None:
    data = base_data()
    data["guardians"] = [{"name": "Bea Guardian", "relationship": "mother"}]
    data["sender"] = sender
    text = flat(text_of(render_letter(inp(Case.model_validate(data)))))
    assert f"Yours sincerely, {signs} {role}" in text
    assert text.startswith(signs)  # the letterhead is the sender's


def test_the_summary_has_the_timeline_medications_and_allergies() -> None:
    text = text_of(section(render_front_matter(inp()), "summary"))
    lines = [flat(ln) for ln in text.splitlines()]
    events = [ln for ln in lines if re.match(r"\d{4}-\d{2}-\d{2} ", ln)]
    assert [e[:10] for e in events] == sorted(e[:10] for e in events)
    assert events[0] == "2026-04-01 Symptom onset: cough"
    assert "2026-05-20 Surgery: mediastinoscopy" in events
    assert "2026-06-02 Diagnosis: Lung adenocarcinoma" in events
    assert "2026-07-01 Radiation to chest 60 Gy in 30 fractions" in events
    assert "2026-07-10 Started carboplatin + pemetrexed" in events
    flat_text = flat(text)
    assert "ondansetron 8 mg oral every 8 hours as needed" in flat_text
    assert "EGFR exon 19 deletion NGS 2026-06-20" in flat_text
    assert "No known allergies." in flat_text
    assert "ECOG 1" in flat_text


def test_allergies_listed_and_not_given() -> None:
    data = base_data()
    data["allergies"] = [{"substance": "penicillin", "reaction": "rash"}]
    text = flat(text_of(section(render_front_matter(inp(Case.model_validate(data))), "summary")))
    assert "penicillin (rash)" in text and "No known allergies" not in text
    del data["allergies"]
    text = flat(text_of(section(render_front_matter(inp(Case.model_validate(data))), "summary")))
    assert "Allergies Not given." in text


def test_the_volume_column_appears_only_with_several_volumes() -> None:
    one = flat(text_of(section(render_front_matter(inp()), "index")))
    assert "Vol." not in one
    several = inp(volumes=2)
    several.enclosures[-1].volume = 2
    text = flat(text_of(section(render_front_matter(several), "index")))
    assert "Vol. Record Date Source Pages" in text
    assert "split into 2 volumes" in text


def test_requested_records_are_listed_without_pages_or_links() -> None:
    data = inp(n=2)
    data.enclosures.append(
        Enclosure("Pathology", "Outside slides report", None, None, None, None, None, "requested")
    )
    fm = render_front_matter(data)
    index = section(fm, "index")
    assert "Outside slides report — requested, not enclosed" in flat(text_of(index))
    assert len(links(index)) == 2 * 2


def test_imaging_index_links_to_the_reports_page_and_says_where_the_images_are() -> None:
    study = ImagingStudy(date(2026, 9, 14), "CT", "CT CHEST", 2, 120, "imaging/study-01/", 3)
    lone = ImagingStudy(None, "MR", "MR BRAIN", 1, 30, "imaging/study-02/", None)
    fm = render_front_matter(inp(imaging=[study, lone]))
    imaging = section(fm, "imaging")
    assert [u for _, u in links(imaging)] == [f"opinionkit:page/{fm.pages + 3}"]
    assert fm.imaging[0].report_page == fm.pages + 3
    text = flat(text_of(imaging))
    assert f"2026-09-14 CT CT CHEST 2 120 imaging/study-01/ page {fm.pages + 3}" in text
    assert "MR MR BRAIN 1 30 imaging/study-02/ not enclosed" in text


def test_optional_sections_appear_only_when_there_is_something_to_list() -> None:
    fm = render_front_matter(inp())
    assert [s.key for s in fm.sections] == ["letter", "summary", "index"]
    data = base_data()
    data["physical_materials"] = [
        {
            "kind": "blocks",
            "accession_numbers": ["S26-1", "S26-2"],
            "count": 2,
            "stain": "none",
            "carrier": "Courier",
            "tracking_number": "TRK-9",
            "shipped": "2026-11-18",
        }
    ]
    study = ImagingStudy(None, "CT", "CT", 1, 1, "imaging/study-01/")
    fm = render_front_matter(inp(Case.model_validate(data), imaging=[study]))
    assert [s.key for s in fm.sections] == ["letter", "summary", "index", "imaging", "materials"]
    assert [s.title for s in fm.sections][3:] == ["Imaging index", "Materials shipped separately"]
    text = flat(text_of(section(fm, "materials")))
    assert "Tissue blocks Stain: none Accession: S26-1, S26-2 2 2026-11-18 Courier TRK-9" in text


# --- PDF properties ------------------------------------------------------------------------


def text_heights(page: Any) -> list[float]:
    """Height above the page's bottom edge (pt) of every piece of text on the page."""
    heights: list[float] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text.strip():
            heights.append(tm[5] * cm[3] + cm[5])

    page.extract_text(visitor_text=visit)
    return heights


def test_pages_are_a4_with_the_bottom_kept_free_for_the_stamp() -> None:
    fm = render_front_matter(inp(n=80))
    for s in fm.sections:
        for page in reader(s.pdf).pages:
            size = (round(float(page.mediabox.width)), round(float(page.mediabox.height)))
            assert size == (595, 842)
            heights = text_heights(page)
            assert heights and min(heights) > 18 * MM, s.key
            assert max(heights) < 842 - 10 * MM, s.key


def test_latin_text_uses_only_embedded_bundled_fonts() -> None:
    fm = render_front_matter(inp(n=3))
    for s in fm.sections:
        for page in reader(s.pdf).pages:
            fonts = page["/Resources"]["/Font"]
            for ref in fonts.values():
                font = ref.get_object()
                name = str(font["/BaseFont"]).split("+")[-1]
                assert name.startswith(("LibertinusSerif", "NewCM", "DejaVuSansMono")), name
                descendant = font["/DescendantFonts"][0].get_object()
                descriptor = descendant["/FontDescriptor"].get_object()
                assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_rendering_is_deterministic_across_processes() -> None:
    here = render_front_matter(inp(n=12))
    assert [s.pdf for s in render_front_matter(inp(n=12)).sections] == [
        s.pdf for s in here.sections
    ]
    script = textwrap.dedent(
        """
        import hashlib, sys
        sys.path.insert(0, sys.argv[1])
        from test_render import inp
        from opinionkit.render import render_front_matter
        for s in render_front_matter(inp(n=12)).sections:
            print(hashlib.sha256(s.pdf).hexdigest())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    import hashlib

    assert out == [hashlib.sha256(s.pdf).hexdigest() for s in here.sections]


def test_the_pdf_date_comes_from_the_input_not_the_clock() -> None:
    info = reader(render_letter(inp())).metadata
    assert info is not None
    assert str(info.get("/CreationDate", "")).startswith("D:20261120")
    assert info.title == "Cover letter"
    assert "Ada" not in str(dict(info))  # no patient data in the metadata


def test_typst_today_is_the_generated_date(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text("Today #datetime.today().display()\n")
    text = text_of(section(render_front_matter(inp(), tmp_path), "summary"))
    assert "Today 2026-11-20" in text


# --- the letter alone ----------------------------------------------------------------------


def test_the_letter_alone_is_the_packets_letter() -> None:
    data = inp()
    fm = render_front_matter(data)
    assert render_letter(data) == section(fm, "letter")
    assert render_letter(data, front=fm) == section(fm, "letter")


def test_plain_text_letter_has_the_question_and_is_not_escaped() -> None:
    c = case(name="Ada *Test* #person")
    text = render_letter_text(inp(c, missing=["no pathology report"]))
    assert "THE QUESTION FOR THE REVIEWERS\nIs surgery an option?" in text
    assert "1. What about trials?" in text
    assert "Ada *Test* #person" in text
    assert '#"' not in text
    assert "INCOMPLETE" in text and "- no pathology report" in text
    assert "- Pathology: Record 1" in text


def test_environment_is_cached_per_template_folder(tmp_path: Path) -> None:
    assert environment(None) is environment(None)
    assert environment(tmp_path) is not environment(None)


# --------------------------------------------------------------------------- template cache


def _fresh(monkeypatch: pytest.MonkeyPatch, cache: Path | str) -> None:
    monkeypatch.setenv("OPINIONKIT_CACHE_DIR", str(cache))
    environment.cache_clear()


def test_compiled_templates_are_cached_on_disk_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2

    cache, tpl = tmp_path / "cache", tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "t.typ.j2").write_text("A {{ x }}\n")
    try:
        _fresh(monkeypatch, cache)
        first = render_template("t.typ.j2", {"x": "one"}, tpl)
        entries = list((cache / "templates").iterdir())
        assert entries and all(e.stat().st_mode & 0o077 == 0 for e in entries)
        assert (cache / "templates").stat().st_mode & 0o077 == 0

        # a new process (a fresh environment) loads the code instead of compiling it
        _fresh(monkeypatch, cache)

        def no_compile(*a: object, **k: object) -> None:
            raise AssertionError("template compiled again")

        with monkeypatch.context() as m:
            m.setattr(jinja2.Environment, "compile", no_compile)
            assert render_template("t.typ.j2", {"x": "one"}, tpl) == first

        # an edited template is compiled afresh; a corrupt entry is a miss, not an error
        (tpl / "t.typ.j2").write_text("B {{ x }}\n")
        _fresh(monkeypatch, cache)
        assert render_template("t.typ.j2", {"x": "two"}, tpl) == 'B #"two";\n'
        for entry in (cache / "templates").iterdir():
            entry.write_bytes(b"garbage")
        _fresh(monkeypatch, cache)
        assert render_template("t.typ.j2", {"x": "two"}, tpl) == 'B #"two";\n'
    finally:
        environment.cache_clear()


def test_no_cache_when_disabled_or_when_others_can_write_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        _fresh(monkeypatch, "")
        assert environment(None, False).bytecode_cache is None
        shared = tmp_path / "shared"
        (shared / "templates").mkdir(parents=True)
        (shared / "templates").chmod(0o777)
        _fresh(monkeypatch, shared)
        assert environment(None, False).bytecode_cache is None
        (tmp_path / "t.typ.j2").write_text("A {{ x }}\n")
        assert render_template("t.typ.j2", {"x": "one"}, tmp_path) == 'A #"one";\n'
        assert list((shared / "templates").iterdir()) == []
    finally:
        environment.cache_clear()

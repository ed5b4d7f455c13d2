"""What the case holds reaches the reviewer (issue 14 part 5), and `init` writes no value
that looks real (part 6)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opinionkit.check import check_case
from opinionkit.models import Case
from opinionkit.options import CheckOptions
from opinionkit.render import render_front_matter, render_letter_text
from opinionkit.render.templating import plain_number
from opinionkit.scaffold import InitAnswers, init_case
from test_render import base_data, flat, inp, section, text_of

TODAY = date(2026, 11, 20)


def make(**top: Any) -> Case:
    data = base_data()
    for key, value in top.items():
        data[key] = value
    return Case.model_validate(data)


def summary_text(c: Case) -> str:
    return flat(text_of(section(render_front_matter(inp(c)), "summary")))


def letter_pdf_text(c: Case) -> str:
    return flat(text_of(section(render_front_matter(inp(c)), "letter")))


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("2400000", "2,400,000"),
        ("2,400,000", "2,400,000"),
        ("0.000075", "0.000075"),
        ("7.5e-05", "0.000075"),
        ("2.4e6", "2,400,000"),
        ("2.50", "2.50"),
        ("8", "8"),
        ("1000", "1,000"),
    ],
)
def test_doses_print_as_written_never_in_scientific_notation(typed: str, printed: str) -> None:
    c = make(medications=[{"name": "benzathine penicillin", "dose": typed, "unit": "units"}])
    assert c.medication_list[0].dose == Decimal(printed.replace(",", ""))
    assert plain_number(c.medication_list[0].dose) == printed
    text = summary_text(c)
    assert f"{printed} units" in text
    assert "e+" not in text and "e-0" not in text


def test_insurance_address_and_contacts_are_in_the_summary() -> None:
    c = make(
        insurance={
            "payer": "Example Health",
            "plan": "Gold",
            "member_id": "EX-99",
            "group_id": "00417",
            "second_opinion_covered": "yes",
            "in_person_covered": "no",
            "remote_covered": "yes",
            "authorization_number": "PA-77",
        },
    )
    text = summary_text(c)
    for value in ("Example Health", "Gold", "EX-99", "00417", "PA-77", "in person: no"):
        assert value in text, value
    assert "remote: yes" in text
    assert "1 Example Street" in text and "555-0100" in text


def test_other_doctors_are_in_the_letters_contacts() -> None:
    data = base_data()
    data["care_team"]["others"] = [
        {"name": "Dr. Sana Surgeon", "role": "thoracic surgeon", "phone": "555-0199"}
    ]
    c = Case.model_validate(data)
    assert "Thoracic surgeon: Dr. Sana Surgeon" in flat(render_letter_text(inp(c)))
    assert "Dr. Sana Surgeon" in letter_pdf_text(c)


def test_the_signing_guardian_gives_their_own_relationship_and_contacts() -> None:
    c = make(
        guardians=[
            {"name": "Maria Example", "relationship": "mother", "phone": "555-0111"},
            {"name": "Jon Example", "relationship": "father", "phone": "555-0222"},
        ],
        sender={"role": "guardian", "name": "Jon Example"},
    )
    text = flat(render_letter_text(inp(c)))
    closing = text[text.index("Yours sincerely") :]
    assert "Jon Example (father of the patient)" in closing
    assert "555-0222" in closing and "555-0111" not in closing


def test_other_reason_is_printed_and_missing_text_is_a_finding(tmp_path: Path) -> None:
    data = base_data()
    data["request"]["reasons"] = ["other"]
    data["request"]["other_reason"] = "The family is moving abroad"
    text = flat(render_letter_text(inp(Case.model_validate(data))))
    assert "for another reason: The family is moving abroad" in text
    assert "given below" not in text

    case_file = tmp_path / "case.yaml"
    case_file.write_text(
        "schema_version: 1\ncase_id: X-1\nprofile: adult-general\n"
        "patient: {name: Ada Example, date_of_birth: 1970-01-01, phone: '1'}\n"
        "care_team: {treating_oncologist: {name: Dr. A, phone: '2'}}\n"
        "request: {reasons: [confirm-diagnosis, other]}\n"
        "diagnosis: {cancer_type: x, date: 2026-01-01, symptoms: [{description: y}]}\n"
        "medications: none\n"
    )
    result = check_case(case_file, CheckOptions(today=TODAY, files=False))
    hits = [f for f in result.findings if f.code == "request.other-reason-missing"]
    assert len(hits) == 1 and hits[0].line == 6 and hits[0].key == "request.reasons[1]"


def test_one_question_rule_flags_extra_questions(tmp_path: Path) -> None:
    case_file = tmp_path / "case.yaml"
    body = (
        "schema_version: 1\ncase_id: X-1\nprofile: {profile}\n"
        "patient: {{name: Ada Example, date_of_birth: 1970-01-01, phone: '1'}}\n"
        "care_team: {{treating_oncologist: {{name: Dr. A, phone: '2'}}}}\n"
        "request: {{primary_question: Is surgery possible?, questions: [One more?, Another?]}}\n"
        "diagnosis: {{cancer_type: x, date: 2026-01-01, symptoms: [{{description: y}}]}}\n"
        "medications: none\n"
    )
    case_file.write_text(body.format(profile="international-written"))
    codes = [f.code for f in check_case(case_file, CheckOptions(today=TODAY, files=False)).findings]
    assert codes.count("request.extra-questions") == 1
    assert "missing.primary-question" not in codes
    case_file.write_text(body.format(profile="adult-general"))
    codes = [f.code for f in check_case(case_file, CheckOptions(today=TODAY, files=False)).findings]
    assert "request.extra-questions" not in codes


def test_init_writes_no_real_looking_values(tmp_path: Path) -> None:
    for profile in ("adult-general", "paediatric", "international-written"):
        folder = tmp_path / profile
        init_case(
            folder,
            InitAnswers(
                profile=profile,
                case_id="NEW-1",
                name="Ada Example",
                date_of_birth="2015-03-04",
                today=TODAY,
            ),
        )
        text = (folder / "case.yaml").read_text()
        live = [line.split("#")[0] for line in text.splitlines()]
        body = "\n".join(live)
        assert TODAY.isoformat() not in body
        for looks_real in ("dose:", "frequency:", "timing:", "unit:", "onset:", "mother"):
            assert looks_real not in body, (profile, looks_real)
        assert "allergies: none" not in body
        result = check_case(folder / "case.yaml", CheckOptions(today=TODAY, files=False))
        codes = {f.code for f in result.findings}
        assert result.loaded is not None and result.loaded.case is not None, codes
        assert "value.placeholder" in codes and "missing.diagnosis" in codes
        assert "medication.incomplete" in codes
        placeholder_keys = {f.key for f in result.findings if f.code == "value.placeholder"}
        assert "medications[0].name" in placeholder_keys
        assert "allergies[0]" in placeholder_keys


def test_a_requested_video_consultation_is_asked_for_in_the_letter() -> None:
    c = make(
        recipient={
            "name": "Dr. Rhea Reviewer",
            "fee": {"amount": "1800", "currency": "usd"},
            "turnaround_business_days": 7,
            "video_consultation": {"requested": True, "fee": {"amount": 2500, "currency": "USD"}},
        }
    )
    assert c.recipient is not None and c.recipient.fee is not None
    assert c.recipient.fee.currency == "USD"
    text = flat(render_letter_text(inp(c)))
    assert "also like a video consultation with the reviewing doctor (fee USD 2,500)" in text
    assert "video consultation" in letter_pdf_text(c)


@given(st.decimals(min_value=Decimal("0.000000001"), max_value=Decimal("1e12"), places=9))
def test_plain_numbers_read_back_exactly(value: Decimal) -> None:
    printed = plain_number(value)
    assert "e" not in printed.lower()
    assert Decimal(printed.replace(",", "")) == value


def test_html_special_characters_print_literally() -> None:
    """Typst templates autoescape only so that super() stays markup: nothing is
    HTML-escaped."""
    c = Case.model_validate(base_data(name='Ada O\'Brien & <Sons> "Q"'))
    text = summary_text(c)
    assert "Ada O'Brien & <Sons>" in text and "&amp;" not in text and "&lt;" not in text


def test_super_keeps_the_shipped_blocks_markup(tmp_path: Path) -> None:
    (tmp_path / "summary.typ.j2").write_text(
        '{% extends "shipped/summary.typ.j2" %}'
        "{% block allergies %}{{ super() }}\n#small[Checked.]\n{% endblock %}\n"
    )
    fm = render_front_matter(inp(make()), tmp_path)
    text = flat(text_of(section(fm, "summary")))
    assert "Allergies: No known allergies. Checked." in text
    assert "#block" not in text and "#text" not in text

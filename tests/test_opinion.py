"""After the packet (issue 14): the opinion recorded, the clock, `compare` and `status`."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pypdf import PdfReader
from typer.testing import CliRunner

from opinionkit.check import check_case
from opinionkit.cli import app
from opinionkit.clock import add_business_days, business_days_between, due_date
from opinionkit.compare import build_comparison, compare_case, stage_differs
from opinionkit.errors import ExitCode, InputError, OutputError
from opinionkit.models import Agreement, Case, Opinion, Stage
from opinionkit.options import CheckOptions, CompareOptions, StatusOptions
from opinionkit.output import INVENTORY
from opinionkit.status import Stage as CaseStage
from opinionkit.status import status_paths

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lung-after-opinion" / "case.yaml"
TODAY = date(2026, 12, 3)
FAST = CheckOptions(today=TODAY, files=False)


def codes(path: Path, today: date = TODAY) -> list[str]:
    return [f.code for f in check_case(path, CheckOptions(today=today, files=False)).findings]


def variant(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The example case with text replaced (each edit must apply)."""
    text = EXAMPLE.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    out = tmp_path / "case.yaml"
    out.write_text(text)
    return out


# --- the example --------------------------------------------------------------------------


def test_the_after_opinion_example_checks_clean_with_its_records() -> None:
    result = check_case(EXAMPLE, CheckOptions(today=TODAY))
    assert not result.findings.errors, [(f.code, f.key) for f in result.findings.errors]
    assert not result.findings.warnings, [(f.code, f.key) for f in result.findings.warnings]
    # the written review is a record like any other: inspected, and judged this patient's
    report = next(r for r in result.records if r.record.id == "meridian-review")
    assert report.record.kind.value == "second-opinion-report"
    assert report.files and all(f.withheld is None for f in report.files)


# --- the model ----------------------------------------------------------------------------


def test_opinion_values_people_type() -> None:
    op = Opinion.model_validate(
        {"doctor": "Dr. A", "agrees_with_plan": "partially", "agrees_with_diagnosis": True}
    )
    assert op.agrees_with_plan is Agreement.PARTLY
    assert op.agrees_with_diagnosis is Agreement.YES
    with pytest.raises(ValidationError):
        Opinion.model_validate({"received": "2026-12-01"})  # nobody
    with pytest.raises(ValidationError):
        Opinion.model_validate({"doctor": "Dr. A", "trials": [{"where": "X"}]})  # no id/title
    with pytest.raises(ValidationError):
        Opinion.model_validate({"doctor": "Dr. A", "review_type": "phone"})
    typed = Opinion.model_validate(
        {
            "doctor": "Dr. A",
            "review_type": "records-only",
            "trials": ["NCT01234567", "A phase 2 trial of something"],
        }
    )
    assert typed.review_type.value == "written"
    assert [(t.id, t.title) for t in typed.trials] == [
        ("NCT01234567", None),
        (None, "A phase 2 trial of something"),
    ]


def test_recipient_terms_are_read() -> None:
    case = check_case(EXAMPLE, FAST).usable().case
    assert case.recipient is not None and case.recipient.fee is not None
    assert str(case.recipient.fee.amount) == "1450" and case.recipient.fee.currency == "USD"
    assert case.recipient.video_consultation is not None
    assert case.recipient.video_consultation.requested is True
    assert due_date(case) == date(2026, 12, 4)  # Friday 20 Nov + 10 business days


# --- the clock ----------------------------------------------------------------------------


def test_business_days_skip_weekends() -> None:
    friday = date(2026, 12, 4)
    assert add_business_days(friday, 1) == date(2026, 12, 7)
    assert add_business_days(friday, 5) == date(2026, 12, 11)
    assert add_business_days(date(2026, 12, 5), 1) == date(2026, 12, 7)  # from a Saturday
    assert add_business_days(friday, 0) == friday


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 400))
def test_business_days_between_inverts_adding(start: date, n: int) -> None:
    end = add_business_days(start, n)
    assert business_days_between(start, end) == n
    assert end.weekday() < 5 or n == 0


# --- check: what the opinion leaves out, and the clock ------------------------------------


def test_a_report_id_must_name_a_second_opinion_report(tmp_path: Path) -> None:
    path = variant(tmp_path, ("report: meridian-review", "report: nowhere"))
    assert "opinion.unknown-report" in codes(path)
    path = variant(tmp_path, ("report: meridian-review", "report: ct-staging"))
    assert "opinion.unknown-report" in codes(path)  # an imaging report is not the review


def test_what_the_review_leaves_out_is_noted(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        (
            "    answer: >-\n      Consolidation osimertinib rather than durvalumab; surgery has no role because the\n      disease is read as N3 (stage IIIB).\n",
            "",
        ),
        ("    pathology_review: Agrees", "    # pathology_review: Agrees"),
    )
    found = check_case(path, FAST).findings
    got = {f.code: f for f in found}
    assert got["opinion.no-answer"].key == "opinions[0]"
    assert got["opinion.no-pathology-review"].key == "opinions[0]"
    assert not found.errors


def test_no_pathology_re_review_is_asked_for_only_when_slides_were_sent(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    start = text.index("physical_materials:")
    end = text.index("sender:")
    path = tmp_path / "case.yaml"
    path.write_text(
        (text[:start] + text[end:]).replace(
            "    pathology_review: Agrees", "    # pathology_review: Agrees"
        )
    )
    assert "opinion.no-pathology-review" not in codes(path)


def test_dates_of_the_opinion_are_checked(tmp_path: Path) -> None:
    path = variant(tmp_path, ("    received: 2026-12-02", "    received: 2026-11-02"))
    assert "opinion.received-before-sent" in codes(path)
    path = variant(tmp_path, ("    received: 2026-12-02", "    received: 2027-01-02"))
    assert "date.future" in codes(path)


def test_an_opinion_past_its_due_date_is_overdue(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    path = tmp_path / "case.yaml"
    path.write_text(text[: text.index("opinions:")])
    assert "opinion.overdue" not in codes(path, date(2026, 12, 4))  # due that day
    found = check_case(path, CheckOptions(today=date(2026, 12, 9), files=False)).findings
    overdue = [f for f in found if f.code == "opinion.overdue"]
    assert len(overdue) == 1 and overdue[0].key == "sent" and "5 days ago" in overdue[0].message


# --- compare ------------------------------------------------------------------------------


def test_stage_differences_are_decided_by_the_parts_both_give() -> None:
    tnm = Stage(system="AJCC TNM", t="cT2b", n="N2", m="M0", group="IIIA")
    assert not stage_differs(tnm, Stage(group="IIIA"))
    assert not stage_differs(tnm, Stage(t="T2b", n="pN2"))
    assert stage_differs(tnm, Stage(n="N3", group="IIIB"))
    assert stage_differs(tnm, "stage IIIB")
    assert not stage_differs(tnm, "Stage IIIA")
    assert not stage_differs(tnm, None)


def test_the_comparison_marks_where_the_opinion_differs() -> None:
    case = check_case(EXAMPLE, FAST).usable().case
    c = build_comparison(case)
    marked = {r.key: r.differs[0] for r in c.rows}
    assert marked == {
        "diagnosis": False,
        "stage": True,
        "plan": True,
        "rationale": False,
        "trials": True,
        "answer": False,
    }
    text = " ".join(c.questions)
    # filled with this case's specifics: both plans, the stages, the re-read, the
    # question asked and its answer, the trial, and the joint review
    for specific in (
        "durvalumab for up to 12 months",
        "osimertinib 80 mg daily",
        "IIIA (cT2b N2 M0)",
        "IIIB (cT2b N3 M0)",
        "left hilar node",
        "role for surgery",
        "NCT06000001",
        "Dr. Priya Raman and Dr. Elena Marsh review the case together",
        "recommended to other patients",
    ):
        assert specific in text, specific


def test_a_case_without_an_opinion_cannot_be_compared() -> None:
    data = Case.model_validate_json(
        json.dumps(
            {
                "case_id": "X",
                "patient": {"name": "A", "date_of_birth": "1970-01-01"},
                "care_team": {"treating_oncologist": {"name": "Dr. B"}},
                "diagnosis": {"cancer_type": "x"},
            }
        )
    )
    with pytest.raises(InputError):
        build_comparison(data)


def _pdf_text(path: Path) -> str:
    return " ".join(" ".join(p.extract_text().split()) for p in PdfReader(path).pages)


def test_compare_writes_its_folder_safely(tmp_path: Path) -> None:
    out = tmp_path / "after"
    result = compare_case(EXAMPLE, CompareOptions(out=out, when=TODAY, check=FAST))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*result.files, INVENTORY])
    comparison = _pdf_text(out / "LUNG-003-comparison.pdf")
    assert "Two opinions side by side" in comparison and "differs" in comparison
    assert "Questions for both doctors" in comparison
    letter = _pdf_text(out / "LUNG-003-letter-to-oncologist.pdf")
    assert "Dear Dr. Priya Raman" in letter
    assert "make an appointment" in letter and "review the case together" in letter
    doc = json.loads((out / "comparison.json").read_text())
    assert doc["schema"] == "opinionkit.compare/1" and doc["verdict"] == "differs"
    assert [r["key"] for r in doc["rows"] if any(r["differs"])] == ["stage", "plan", "trials"]
    text = (out / "LUNG-003-comparison.txt").read_text()
    assert "STAGE  [DIFFERS]" in text and "QUESTIONS FOR BOTH DOCTORS" in text
    # again: refused without --force, replaced with it; never over something foreign
    with pytest.raises(OutputError):
        compare_case(EXAMPLE, CompareOptions(out=out, when=TODAY, check=FAST))
    compare_case(EXAMPLE, CompareOptions(out=out, when=TODAY, check=FAST, force=True))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(OutputError):
        compare_case(EXAMPLE, CompareOptions(out=foreign, when=TODAY, check=FAST, force=True))
    assert (foreign / "notes.txt").read_text() == "keep"
    with pytest.raises(OutputError):
        compare_case(
            EXAMPLE, CompareOptions(out=EXAMPLE.parent, when=TODAY, check=FAST, force=True)
        )


def test_compare_templates_are_overridable(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "compare.txt.j2").write_text('{% extends "shipped/compare.txt.j2" %}')
    (templates / "compare-letter.txt.j2").write_text(
        "Our own letter to {{ oncologist.name }}: {{ questions|length }} questions.\n"
    )
    out = tmp_path / "after"
    compare_case(EXAMPLE, CompareOptions(out=out, when=TODAY, check=FAST, templates=templates))
    assert (out / "LUNG-003-letter-to-oncologist.txt").read_text() == (
        "Our own letter to Dr. Priya Raman: 6 questions.\n"
    )
    assert "QUESTIONS FOR BOTH DOCTORS" in (out / "LUNG-003-comparison.txt").read_text()


def test_compare_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "after"
    run = CliRunner().invoke(
        app,
        ["compare", str(EXAMPLE), "--out", str(out), "--today", "2026-12-03", "-f", "json"],
    )
    assert run.exit_code == 0, run.output
    doc = json.loads(run.output)
    assert doc["schema"] == "opinionkit.compare/1" and doc["out"] == str(out)
    again = CliRunner().invoke(app, ["compare", str(EXAMPLE), "--out", str(out)])
    assert again.exit_code == 4
    line = CliRunner().invoke(
        app,
        [
            "compare",
            str(EXAMPLE),
            "--out",
            str(out),
            "--force",
            "--today",
            "2026-12-03",
            "-f",
            "jsonl",
        ],
    )
    assert line.exit_code == 0, line.output
    (only,) = line.output.splitlines()  # jsonl: one document, one line
    assert json.loads(only)["case_id"] == doc["case_id"]


# --- status -------------------------------------------------------------------------------

HEAD = """schema_version: 1
case_id: {cid}
profile: adult-general
patient: {{name: Patient {n}, date_of_birth: 1970-01-01, phone: 555-0100}}
care_team:
  treating_oncologist: {{name: Dr. Omar Fictus, facility: Riverbend, phone: 555-0101}}
recipient: {{name: Programme, turnaround_business_days: 10}}
request: {{primary_question: Is surgery an option?}}
diagnosis:
  cancer_type: Lung adenocarcinoma
  date: 2026-06-02
  symptoms: [{{description: cough}}]
treatment: {{plan: chemotherapy}}
medications: none
physical_materials: [{{kind: slides}}]
records:
  - {{kind: pathology-report, title: Pathology, source: Riverbend, file: records/missing-on-purpose.pdf}}
  - {{kind: imaging-report, title: CT, date: 2026-11-01, file: records/ct.pdf}}
"""

STAGES = [
    "gathering",
    "ready",
    "sent",
    "opinion-due",
    "overdue",
    "opinion-received",
    "compared",
    "unreadable",
]


def write_case(folder: Path, n: int, stage: str) -> None:
    folder.mkdir(parents=True)
    cid = f"C-{n:03d}"
    text = HEAD.format(cid=cid, n=n)
    if stage == "gathering":
        text += (
            f"  - {{kind: lab-report, title: Labs, source: Lab {n}, status: requested, "
            f"requested: {(TODAY - timedelta(days=n)).isoformat()}}}\n"
        )
    if stage == "sent":
        text = text.replace(", turnaround_business_days: 10", "") + "sent: 2026-11-20\n"
    if stage == "opinion-due":
        text += "sent: 2026-11-30\n"
    if stage == "overdue":
        text += f"sent: {(date(2026, 11, 1) + timedelta(days=n % 7)).isoformat()}\n"
    if stage in ("opinion-received", "compared"):
        text += (
            "sent: 2026-11-20\nopinions:\n  - {doctor: Dr. R, received: 2026-12-01, "
            "review_type: video, answer: yes, pathology_review: agrees, agrees_with_plan: yes}\n"
        )
    if stage == "compared":
        out = folder / f"{cid}-after-opinion"
        out.mkdir()
        (out / INVENTORY).write_text("{}")
    if stage == "unreadable":
        text = text.replace("date_of_birth: 1970-01-01", "date_of_birth: sometime")
    (folder / "case.yaml").write_text(text)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("office")
    for n in range(100):
        write_case(root / f"case-{n:03d}", n, STAGES[n % len(STAGES)])
    return root


def test_status_over_a_hundred_cases(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    report = status_paths([office], StatusOptions(today=TODAY))
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nstatus over 100 cases: {seconds:.2f} s")
    assert len(report.cases) == 100
    by_id = {c.case_id: c for c in report.cases if c.case_id}
    for n in range(100):
        want = STAGES[n % len(STAGES)]
        if want == "unreadable":
            continue
        assert by_id[f"C-{n:03d}"].stage.value == want, n
    assert sum(c.stage is CaseStage.UNREADABLE for c in report.cases) == 12
    # record files are never read: the pathology file does not exist, and no case counts it
    assert all(c.errors == 0 for c in report.cases if c.stage is not CaseStage.UNREADABLE)
    # most urgent first; overdue by days late, gathering by the longest-waiting request
    order = [c.stage.value for c in report.cases]
    ranks = [
        "unreadable",
        "overdue",
        "opinion-received",
        "ready",
        "gathering",
        "opinion-due",
        "sent",
        "compared",
    ]
    assert order == sorted(order, key=ranks.index)
    overdue = [c.days_overdue or 0 for c in report.cases if c.stage is CaseStage.OVERDUE]
    assert overdue == sorted(overdue, reverse=True) and overdue[0] > 0
    waiting = [c.requested[0].days for c in report.cases if c.stage is CaseStage.GATHERING]
    assert waiting == sorted(waiting, reverse=True)  # type: ignore[type-var]
    first = next(c for c in report.cases if c.stage is CaseStage.GATHERING)
    assert first.requested[0].facility == f"Lab {first.requested[0].days}"
    due = next(c for c in report.cases if c.stage is CaseStage.OPINION_DUE)
    assert due.due == date(2026, 12, 14)


def test_status_for_scripts(office: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(app, ["status", str(office), "--today", "2026-12-03", "-f", "json"])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.output)
    assert doc["schema"] == "opinionkit.status/1" and len(doc["cases"]) == 100
    for row in doc["cases"]:
        assert {"case_id", "stage", "due", "requested", "errors", "warnings"} <= row.keys()
        assert "name" not in row
    assert "Patient " not in run.output  # case ids only by default
    named = runner.invoke(
        app, ["status", str(office), "--today", "2026-12-03", "-f", "json", "--show-names"]
    )
    assert all(
        r["name"].startswith("Patient") for r in json.loads(named.output)["cases"] if r["case_id"]
    )
    lines = runner.invoke(app, ["status", str(office), "--today", "2026-12-03", "-f", "jsonl"])
    rows = [json.loads(line) for line in lines.output.splitlines()]
    assert len(rows) == 100 and all(r["schema"] == "opinionkit.status/1" for r in rows)
    table = runner.invoke(app, ["status", str(office), "--today", "2026-12-03", "-f", "csv"])
    parsed = list(csv.DictReader(io.StringIO(table.output)))
    assert len(parsed) == 100 and parsed[0]["stage"] == "unreadable"
    text = runner.invoke(app, ["status", str(office / "case-000"), "--today", "2026-12-03"])
    assert text.exit_code == 0 and "C-000" in text.output and "gathering" in text.output


def test_status_of_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["status", str(tmp_path / "nowhere")])
    assert run.exit_code == ExitCode.INPUT


SECOND = """  - institution: Harbour Valley Cancer Centre
    received: 2026-12-03
    review_type: video
    stage: stage IIIA
    agrees_with_diagnosis: yes
    agrees_with_plan: no
    pathology_review: Not re-reviewed.
    recommended_plan: Induction chemotherapy with osimertinib, then lobectomy if downstaged.
    answer: Surgery after induction may be an option.
"""


def test_two_opinions_each_get_a_column(tmp_path: Path) -> None:
    path = variant(tmp_path, ("opinions:\n", "opinions:\n" + SECOND))
    case = check_case(path, FAST).usable().case
    c = build_comparison(case)
    assert [o.label for o in c.opinions] == ["Second opinion 1", "Second opinion 2"]
    stage = next(r for r in c.rows if r.key == "stage")
    assert stage.differs == [False, True]  # "stage IIIA" is the treating team's group
    plan = next(r for r in c.rows if r.key == "plan")
    assert plan.differs == [True, True]
    assert any(
        "Harbour Valley Cancer Centre recommends a different plan" in d for d in c.differences
    )
    out = tmp_path / "after"
    compare_case(path, CompareOptions(out=out, when=TODAY, check=FAST))
    page = PdfReader(out / "LUNG-003-comparison.pdf").pages[0]
    assert page.mediabox.width > page.mediabox.height  # landscape for three columns
    text = _pdf_text(out / "LUNG-003-comparison.pdf")
    assert "Second opinion 1" in text and "Second opinion 2" in text
    letter = (out / "LUNG-003-letter-to-oncologist.txt").read_text()
    assert "2 second opinions" in letter
    assert (
        "Harbour Valley Cancer Centre and Dr. Elena Marsh, Meridian University Hospital" in letter
    )


def test_the_due_date_is_noted_until_it_passes(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    path = tmp_path / "case.yaml"
    path.write_text(text[: text.index("opinions:")])
    found = check_case(path, CheckOptions(today=date(2026, 12, 1), files=False)).findings
    due = [f for f in found if f.code == "opinion.due"]
    assert len(due) == 1 and "2026-12-04" in due[0].message
    assert "opinion.due" not in codes(path, date(2026, 12, 7))


def test_status_and_compare_in_a_real_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "opinionkit",
            "status",
            str(EXAMPLE.parent),
            "-f",
            "csv",
            "--today",
            "2026-12-03",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    (row,) = list(csv.DictReader(io.StringIO(status.stdout)))
    assert row["case_id"] == "LUNG-003" and row["due"] == "2026-12-04"
    out = tmp_path / "after"
    compare = subprocess.run(
        [sys.executable, "-m", "opinionkit", "compare", str(EXAMPLE), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert compare.returncode == 0, compare.stderr
    assert (out / INVENTORY).is_file() and "difference(s) marked" in compare.stdout


def test_a_bare_opinion_still_compares(tmp_path: Path) -> None:
    """Only the reviewer's name: every document is still written, nothing is invented."""
    case_file = tmp_path / "case.yaml"
    case_file.write_text(
        "schema_version: 1\ncase_id: BARE-1\n"
        "patient: {name: Ada Example, date_of_birth: 1970-01-01}\n"
        "guardians: [{name: Grace Example, relationship: daughter}]\n"
        "care_team: {treating_oncologist: {name: Dr. A}}\n"
        "diagnosis: {cancer_type: Sarcoma}\n"
        "sender: {role: guardian}\n"
        "opinions: [{institution: Example Centre}]\n"
    )
    out = tmp_path / "after"
    result = compare_case(case_file, CompareOptions(out=out, when=TODAY, check=FAST))
    c = result.comparison
    assert not any(r.any_differs for r in c.rows) and c.differences == []
    assert c.verdict == "unstated"  # silence is not agreement
    assert [r.key for r in c.rows] == ["diagnosis", "stage", "plan", "rationale", "trials"]
    letter = (out / "BARE-1-letter-to-oncologist.txt").read_text()
    assert "It does not say whether it agrees with the current plan" in letter
    assert "We have received the second opinion from Example Centre" in letter
    assert "Grace Example (daughter of the patient)" in letter
    assert "None" not in letter and "None" not in (out / "BARE-1-comparison.txt").read_text()
    assert len(PdfReader(out / "BARE-1-comparison.pdf").pages) >= 1

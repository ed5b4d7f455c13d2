"""The shipped examples: the complete ones pass `check`, the incomplete one shows its defects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, TODAY
from opinionkit.check import CheckOptions, check_case
from opinionkit.findings import Severity

# Known, deliberate warnings of the complete examples (everything else must be clean).
ALLOWED_WARNINGS = {
    "lung-international": set(),
    "paediatric-all": set(),
    "sarcoma-adult": {("identity.not-verifiable", "records[9].file")},  # the scanned GP letter
}


@pytest.mark.parametrize("name", sorted(ALLOWED_WARNINGS))
def test_complete_examples_pass_check(name: str) -> None:
    result = check_case(EXAMPLES / name / "case.yaml", CheckOptions(today=TODAY))
    assert not result.findings.errors, [(f.code, f.key) for f in result.findings.errors]
    warnings = {(f.code, f.key) for f in result.findings if f.severity is Severity.WARNING}
    assert warnings == ALLOWED_WARNINGS[name]
    assert int(result.exit_code()) == 0


def test_examples_cover_their_profiles() -> None:
    profiles = {
        name: check_case(EXAMPLES / name / "case.yaml", CheckOptions(today=TODAY)).profile
        for name in ALLOWED_WARNINGS
    }
    assert {p.id for p in profiles.values() if p} == {
        "adult-general",
        "paediatric",
        "international-written",
    }


def test_lung_example_has_dicom_spanish_record_and_translation() -> None:
    result = check_case(EXAMPLES / "lung-international" / "case.yaml", CheckOptions(today=TODAY))
    studies = [f.dicom for r in result.records for f in r.files if f.dicom is not None]
    assert studies and studies[0].dicom_files == 8
    (study,) = studies[0].studies.values()
    assert study.modalities == ["CT"] and study.series_count == 2
    assert any(r.record.language == "es" and r.record.translation for r in result.records)


def test_incomplete_example_shows_what_the_tool_catches() -> None:
    result = check_case(EXAMPLES / "incomplete" / "case.yaml", CheckOptions(today=TODAY))
    errors = {f.code for f in result.findings.errors}
    assert errors == {
        "missing.pathology",
        "identity.mismatch",
        "file.not-found",
        "date.future",
        "date.end-before-start",
    }
    assert "medication.incomplete" in {f.code for f in result.findings}
    assert int(result.exit_code()) == 1


def test_examples_generator_is_deterministic(tmp_path: Path) -> None:
    """Regenerating the records gives the committed bytes (no clock, no randomness)."""
    before = {p: p.read_bytes() for p in EXAMPLES.glob("*/records/**/*") if p.is_file()}
    subprocess.run([sys.executable, str(EXAMPLES / "make_examples.py")], check=True)
    after = {p: p.read_bytes() for p in EXAMPLES.glob("*/records/**/*") if p.is_file()}
    assert before.keys() == after.keys()
    assert all(before[p] == after[p] for p in before)


def test_a_requested_record_is_reported_as_outstanding() -> None:
    result = check_case(EXAMPLES / "sarcoma-adult" / "case.yaml", CheckOptions(today=TODAY))
    outstanding = [f for f in result.findings if f.code == "record.outstanding"]
    assert [(f.key, f.severity) for f in outstanding] == [("records[11].status", Severity.INFO)]

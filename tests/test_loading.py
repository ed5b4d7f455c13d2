"""Reading case files: every problem a finding with file:line:column and key path, no values."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opinionkit.errors import ProfileError
from opinionkit.findings import Severity
from opinionkit.loading import load_case
from opinionkit.profiles import load_profile, shipped

BASE = (Path(__file__).parent / "cases" / "base" / "case.yaml").read_bytes()


def _load(tmp_path: Path, text: bytes | str) -> list[tuple[str, str | None, int | None]]:
    p = tmp_path / "case.yaml"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    loaded = load_case(p, display="case.yaml")
    return [(f.code, f.key, f.line) for f in loaded.findings]


def test_base_case_is_valid(tmp_path: Path) -> None:
    assert _load(tmp_path, BASE) == []


def test_identifiers_kept_exactly(tmp_path: Path) -> None:
    p = tmp_path / "case.yaml"
    p.write_bytes(
        BASE.replace(b'mrn: "00123"', b"mrn: 00123").replace(b"case_id: TEST-001", b"case_id: NO")
    )
    case = load_case(p).case
    assert case is not None
    assert case.patient.mrns[0].mrn == "00123"
    assert case.case_id == "NO"


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    p = tmp_path / "case.yaml"
    p.write_bytes(BASE.replace(b"  sex: female\n", b"  sex: female\n  dob: 1970-05-06\n"))
    (f,) = load_case(p, display="case.yaml").findings
    assert (f.code, f.key, f.line, f.column) == ("schema.unknown-key", "patient.dob", 11, 3)
    assert "did you mean 'date_of_birth'" in f.message
    assert f.location == "case.yaml:11:3"


def test_missing_required_section(tmp_path: Path) -> None:
    text = BASE.decode().replace(
        "care_team:\n  treating_oncologist:\n    name: Dr. Omar Fictus\n"
        "    facility: Riverbend General Hospital\n    phone: 555-0101\n",
        "",
    )
    assert ("schema.missing", "care_team", 3) in _load(tmp_path, text)


def test_all_problems_in_one_pass(tmp_path: Path) -> None:
    text = BASE.decode().replace("date: 2026-06-02\n  symptoms", "date: 02/06/2026\n  symptoms")
    text = text.replace("    dose: 8\n", "    dose: eight\n").replace(
        "  sex: female", "  sex: femal"
    )
    got = _load(tmp_path, text)
    assert {k for _, k, _ in got} == {"diagnosis.date", "medications[0].dose", "patient.sex"}


def test_medications_none_and_list(tmp_path: Path) -> None:
    p = tmp_path / "case.yaml"
    p.write_bytes(BASE.replace(b"allergies: none", b"allergies: [penicillin]"))
    case = load_case(p).case
    assert case is not None and case.allergy_list[0].substance == "penicillin"


def test_messages_carry_no_values(tmp_path: Path) -> None:
    text = BASE.decode().replace("name: Ada Testperson", "name: [Zebulon, Quixote]")
    text = text.replace("date_of_birth: 1970-05-06", "date_of_birth: 1970-99-99")
    p = tmp_path / "case.yaml"
    p.write_text(text)
    loaded = load_case(p)
    assert loaded.findings
    for f in loaded.findings:
        blob = repr(f.to_dict())
        assert "Zebulon" not in blob and "1970-99-99" not in blob


def test_unreadable_case_file(tmp_path: Path) -> None:
    loaded = load_case(tmp_path / "nope.yaml")
    assert loaded.unreadable and loaded.findings.items[0].code == "case.unreadable"
    loaded = load_case(tmp_path)
    assert loaded.unreadable and "folder" in loaded.findings.items[0].message


def test_shipped_profiles_load() -> None:
    assert set(shipped()) >= {"adult-general", "paediatric", "international-written"}
    for name in shipped():
        prof = load_profile(name)
        assert prof.requirements and all(r.hint for r in prof.requirements)


def test_custom_profile_errors_name_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "office.yaml"
    p.write_text(
        "id: office\ntitle: Office\nrequirements:\n"
        "  - {id: a, check: records, kind: pathology-report, level: required, label: L, hint: H}\n"
        "  - {id: b, check: telepathy, level: required, label: L, hint: H}\n"
    )
    with pytest.raises(ProfileError) as info:
        load_profile(p)
    assert "office.yaml:5" in info.value.message and "telepathy" in info.value.message
    p.write_text(
        "id: office\ntitle: Office\nrequirements:\n"
        "  - {id: a, check: records, kind: pathologyreport, level: required, label: L, hint: H}\n"
    )
    with pytest.raises(ProfileError):
        load_profile(p)


# --- fuzz: mutated case files end in findings or a case, never an exception -----------------

LINES = BASE.decode().splitlines(keepends=True)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(LINES) - 1),
            st.sampled_from(["drop", "dup", "indent", "dedent", "garble", "swap"]),
            st.text(max_size=6),
        ),
        max_size=6,
    )
)
def test_mutated_case_files_never_crash(tmp_path: Path, edits: list[tuple[int, str, str]]) -> None:
    lines = list(LINES)
    for i, op, junk in edits:
        i = min(i, len(lines) - 1)
        if not lines:
            break
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = "  " + lines[i]
        elif op == "dedent":
            lines[i] = lines[i].lstrip()
        elif op == "garble":
            lines[i] = lines[i][: len(lines[i]) // 2] + junk + "\n"
        else:
            j = (i * 7) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
    p = tmp_path / "case.yaml"
    p.write_text("".join(lines))
    loaded = load_case(p)
    assert loaded.case is not None or loaded.findings.count(Severity.ERROR) > 0
    for f in loaded.findings:
        assert f.file and f.code and f.message

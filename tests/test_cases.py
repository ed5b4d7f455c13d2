"""Test cases as folders: tests/cases/<name>/case.yaml + expected.yaml (see tests/cases/README.md).

Every error and warning must be listed in expected.yaml (code, key path, line), and every
listed finding must appear: a new false positive fails as surely as a missed defect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CASES, TODAY
from opinionkit import yamlsafe
from opinionkit.check import CheckOptions, check_case
from opinionkit.findings import Severity

FOLDERS = sorted(p.parent for p in CASES.glob("*/case.yaml"))


def _expected(folder: Path) -> tuple[int, set[tuple[str, str | None, int | None]], dict[str, str]]:
    data = yamlsafe.parse((folder / "expected.yaml").read_bytes()).data
    items = {
        (f["code"], f.get("key"), int(f["line"]) if f.get("line") else None)
        for f in data.get("findings") or []
    }
    return int(data["exit_code"]), items, dict(data.get("env") or {})


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_case_folder(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    exit_code, expected, env = _expected(folder)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = check_case(folder / "case.yaml", CheckOptions(today=TODAY), display="case.yaml")
    got_all = {(f.code, f.key, f.line) for f in result.findings}
    got_strict = {
        (f.code, f.key, f.line) for f in result.findings if f.severity is not Severity.INFO
    }
    missing = expected - got_all
    unexpected = got_strict - expected
    assert not missing and not unexpected, (
        f"missing: {sorted(missing, key=str)}\nunexpected: {sorted(unexpected, key=str)}"
    )
    assert int(result.exit_code()) == exit_code


def test_every_case_folder_has_expectations() -> None:
    assert len(FOLDERS) >= 8
    for folder in FOLDERS:
        assert (folder / "expected.yaml").is_file(), folder.name

"""What the tests share: where things are, the fixed clock, and copies of the examples.

Constants are importable (`from conftest import TODAY`); fixtures need no import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CASES = ROOT / "tests" / "cases"
# The hostile PDFs live beside the project (../shared); CI always has them there.
CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
TODAY = date(2026, 11, 24)
# A fixed SOURCE_DATE_EPOCH makes every packet byte-identical from run to run.
ENV = {"SOURCE_DATE_EPOCH": "1790000000"}
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/pdf not beside")


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """`opinionkit ARGS` in a fresh interpreter, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "opinionkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **ENV, "COLUMNS": "400", **(env or {})},
    )


@pytest.fixture
def example_copy(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a shipped example into tmp_path; returns the copied case.yaml."""

    def copy(name: str) -> Path:
        dest = tmp_path / name
        shutil.copytree(EXAMPLES / name, dest)
        return dest / "case.yaml"

    return copy

"""Start-up: what a command imports is what it uses (issue 15, part 4).

Most of a small ``check``'s time is the interpreter importing modules. These tests
run the CLI in a fresh interpreter and assert the set of modules it loaded, never a
time: the template chain (Jinja, the front matter, Typst) only where something renders,
Rich's tables only for ``profiles``, the PDF readers only where a PDF is read -- and
then in the parent, before the workers fork (:func:`opinionkit.checks.files.warm`), not
in every worker. Typst must never be imported by a process that forks workers
(:mod:`opinionkit.typstproc`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ENV, EXAMPLES

pytestmark = pytest.mark.slow

_PROBE = """
import json, sys
import opinionkit.cli
at_import = sorted(sys.modules)
out, argv = sys.argv[1], sys.argv[2:]
sys.argv = ["opinionkit", *argv]
code = None
try:
    opinionkit.cli.app()
except SystemExit as e:
    code = e.code
with open(out, "w") as fh:
    json.dump({"import": at_import, "run": sorted(sys.modules), "code": code}, fh)
"""

NEVER_IN_CHECK = (
    "typst",
    "jinja2",
    "markupsafe",
    "rich.table",
    "opinionkit.render.frontmatter",
    "opinionkit.render.templating",
    "opinionkit.bundle",
    "pypdf",
    "pydicom",
    "PIL",
)
"""Modules ``check`` of a case of typed PDFs with ASCII values never needs."""

PDF_READERS = ("pikepdf", "pypdfium2", "opinionkit.inspect.pdf", "opinionkit.pdf.assemble")


def probe(tmp_path: Path, *argv: str) -> dict[str, object]:
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *argv],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **ENV, "OPINIONKIT_OCR": "off"},
    )
    assert out.exists(), done.stderr
    result: dict[str, object] = json.loads(out.read_text())
    return result


def loaded(result: dict[str, object], phase: str, names: tuple[str, ...]) -> list[str]:
    modules = result[phase]
    assert isinstance(modules, list)
    return [n for n in names if n in modules]


def test_importing_the_cli_loads_no_model_no_reader_no_template(tmp_path: Path) -> None:
    result = probe(tmp_path, "--version")
    assert result["code"] == 0
    heavy = ("pydantic", "yaml", "opinionkit.models", *PDF_READERS, *NEVER_IN_CHECK)
    assert loaded(result, "import", heavy) == []
    assert loaded(result, "run", heavy) == []


def test_check_of_a_small_case_loads_the_readers_once_and_no_template(tmp_path: Path) -> None:
    case = tmp_path / "incomplete"
    shutil.copytree(EXAMPLES / "incomplete", case)
    result = probe(tmp_path, "check", str(case / "case.yaml"), "--today", "2026-11-24")
    assert result["code"] == 1  # the example's errors: the check ran to its end
    assert loaded(result, "run", NEVER_IN_CHECK) == []
    # imported here, before the workers fork, so that each worker does not import them
    assert loaded(result, "run", PDF_READERS) == list(PDF_READERS)


def test_check_of_a_case_without_record_files_loads_no_reader(tmp_path: Path) -> None:
    case = tmp_path / "no-files"
    case.mkdir()
    text = (EXAMPLES / "incomplete" / "case.yaml").read_text(encoding="utf-8")
    head = text.split("\nrecords:\n")[0]
    (case / "case.yaml").write_text(head + "\nrecords: []\n", encoding="utf-8")
    result = probe(tmp_path, "check", str(case / "case.yaml"), "--today", "2026-11-24")
    assert result["code"] == 1
    assert loaded(result, "run", (*PDF_READERS, *NEVER_IN_CHECK)) == []


def test_a_jobs_parent_loads_the_readers_before_forking_and_never_typst(tmp_path: Path) -> None:
    paths = []
    for name in ("a", "b"):
        shutil.copytree(EXAMPLES / "incomplete", tmp_path / name)
        paths.append(str(tmp_path / name / "case.yaml"))
    result = probe(tmp_path, "check", *paths, "--jobs", "2", "--today", "2026-11-24")
    assert result["code"] == 1
    assert loaded(result, "run", PDF_READERS) == list(PDF_READERS)
    assert loaded(result, "run", ("typst", "jinja2")) == []

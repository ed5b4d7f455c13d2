"""The wheel carries everything a user needs: templates, profiles, and runs from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (whl,) = out.glob("opinionkit-*.whl")
    return whl


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for profile in ("adult-general", "paediatric", "international-written"):
        assert f"opinionkit/profiles/{profile}.yaml" in names
    shipped_templates = {p.name for p in (ROOT / "templates").iterdir() if p.is_file()}
    assert shipped_templates, "templates/ is empty"
    for name in shipped_templates:
        assert f"opinionkit/templates/{name}" in names
    assert not any(n.startswith(("tests/", "examples/")) for n in names)
    # the Python API is typed: type checkers read the marker
    assert "opinionkit/py.typed" in names


def test_installed_wheel_runs_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    case = ROOT / "tests" / "cases" / "base" / "case.yaml"
    probe = subprocess.run(
        [sys.executable, "-c", "import opinionkit, sys; print(opinionkit.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert probe.stdout.startswith(str(target)), probe.stdout + probe.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "opinionkit", "check", str(case), "--today", "2026-11-24"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the installed wheel renders a packet with its own (packaged) templates
    out = tmp_path / "packet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "opinionkit",
            "bundle",
            str(case),
            "--out",
            str(out),
            "--today",
            "2026-11-24",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "TEST-001-packet.pdf").is_file()


def test_start_up_loads_no_library_a_pdf_only_case_does_not_need() -> None:
    """pypdf (0.1 s to import) and Pillow (0.02 s) are loaded only for what needs them:
    scanned images, multi-file records, files qpdf cannot open. Every run pays for what
    start-up imports."""
    probe = (
        "import sys, opinionkit.cli, opinionkit.bundle, opinionkit.check, "
        "opinionkit.checks.files, opinionkit.pdf\n"
        "print(sorted(m for m in ('pypdf', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"

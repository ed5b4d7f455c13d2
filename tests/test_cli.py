"""The CLI three ways: the library API, typer's CliRunner, and one real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CASES
from opinionkit.check import CheckOptions, check_paths
from opinionkit.cli import app
from opinionkit.errors import ExitCode

runner = CliRunner()
TODAY = ["--today", "2026-11-24"]


def test_api_and_cli_agree() -> None:
    paths = [CASES / "base" / "case.yaml", CASES / "wrong-patient" / "case.yaml"]
    api = check_paths(paths, CheckOptions())
    res = runner.invoke(app, ["check", *map(str, paths), "--format", "json"])
    doc = json.loads(res.stdout)
    assert res.exit_code == int(api.exit_code()) == ExitCode.FINDINGS
    assert [c["exit_code"] for c in doc["cases"]] == [int(c.exit_code()) for c in api.cases]
    assert doc["schema"] == "opinionkit.check/1"
    assert doc["summary"]["cases"] == 2


def test_json_shape() -> None:
    res = runner.invoke(app, ["check", str(CASES / "base" / "case.yaml"), "-f", "json", *TODAY])
    doc = json.loads(res.stdout)
    case = doc["cases"][0]
    assert set(case) >= {
        "file",
        "case_id",
        "profile",
        "verdict",
        "exit_code",
        "counts",
        "findings",
        "records",
    }
    for f in case["findings"]:
        assert set(f) == {
            "code",
            "severity",
            "message",
            "hint",
            "file",
            "line",
            "column",
            "key",
            "path",
        }
    assert case["records"][0]["files"][0]["sha256"]
    assert case["records"][0]["pages"] == 1


def test_strict_makes_warnings_fail() -> None:
    base = str(CASES / "base" / "case.yaml")
    assert runner.invoke(app, ["check", base, *TODAY]).exit_code == ExitCode.OK
    assert runner.invoke(app, ["check", base, "--strict", *TODAY]).exit_code == ExitCode.FINDINGS


def test_default_case_file_is_case_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["check"])
    assert res.exit_code == ExitCode.INPUT
    assert "case.yaml" in res.stdout


def test_usage_errors() -> None:
    assert runner.invoke(app, ["check", "--format", "xml"]).exit_code == ExitCode.USAGE
    assert runner.invoke(app, ["check", "--today", "tomorrow"]).exit_code == ExitCode.USAGE
    res = runner.invoke(app, ["check", str(CASES / "base" / "case.yaml"), "--profile", "nope"])
    assert res.exit_code == ExitCode.INPUT
    assert "unknown profile" in res.stderr


def test_unreadable_yaml_exit_code_and_position() -> None:
    res = runner.invoke(app, ["check", str(CASES / "yaml-syntax" / "case.yaml")])
    assert res.exit_code == ExitCode.INPUT
    assert "case.yaml:" in res.stdout and "yaml.syntax" in res.stdout


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "check",
            str(tmp_path / "nope.yaml"),
            str(CASES / "base" / "case.yaml"),
            "-f",
            "json",
            *TODAY,
        ],
    )
    doc = json.loads(res.stdout)
    assert [c["verdict"] for c in doc["cases"]] == ["unreadable", "warnings"]
    assert res.exit_code == ExitCode.INPUT


def test_profiles_are_listed() -> None:
    res = runner.invoke(app, ["profiles"])
    assert res.exit_code == 0
    for name in ("adult-general", "paediatric", "international-written"):
        assert name in res.stdout


def test_real_subprocess_no_traceback() -> None:
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.run(
        [sys.executable, "-m", "opinionkit", "check", str(CASES / "corrupt" / "case.yaml"), *TODAY],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == ExitCode.FINDINGS
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "pdf.unreadable" in proc.stdout or "file.wrong-type" in proc.stdout
    version = subprocess.run(
        [sys.executable, "-m", "opinionkit", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.stdout.startswith("opinionkit ")


def test_the_process_ends_with_its_output_flushed_and_its_exit_code() -> None:
    """main() leaves with os._exit after flushing: nothing printed may be lost, and the
    documented exit codes must survive it (a large JSON report through a pipe, a usage
    error, an unreadable case)."""
    case = CASES / "corrupt" / "case.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "opinionkit", "check", str(case), "--format", "json", *TODAY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == ExitCode.FINDINGS
    report = json.loads(proc.stdout)  # complete: parses to the end
    assert report["cases"] and proc.stdout.endswith("\n")
    usage = subprocess.run(
        [sys.executable, "-m", "opinionkit", "check", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert usage.returncode == ExitCode.USAGE and "no-such-option" in usage.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "opinionkit", "check", str(case.parent / "absent.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == ExitCode.INPUT
    assert "absent.yaml does not exist" in " ".join(missing.stdout.split())  # may be wrapped


def test_every_command_and_option_is_documented_in_the_readme() -> None:
    import typer.main

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    command = typer.main.get_command(app)
    assert command.commands  # type: ignore[attr-defined]
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        assert f"opinionkit {name}" in readme, name
        for param in sub.params:
            for opt in param.opts:
                if opt.startswith("--") and opt not in ("--help",):
                    assert opt in readme, f"{name} {opt}"

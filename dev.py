#!/usr/bin/env python3
"""Set-up-free entry point: `python3 dev.py example` and `python3 dev.py test`.

Creates `.venv/` beside this file on first use (and again whenever pyproject.toml
changes), installs opinionkit with its test extras into it, then runs the job.
Needs only Python 3.11+ with venv and pip.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".opinionkit-installed"


def _python() -> Path:
    return BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_venv() -> Path:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is installed
        sys.exit("opinionkit needs Python 3.11 or newer")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and _python().exists():
        return _python()
    if not _python().exists():
        print("creating .venv ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing opinionkit and its test tools into .venv ...", file=sys.stderr)
    subprocess.run(
        [
            str(_python()),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-e",
            f"{ROOT}[test]",
        ],
        check=True,
    )
    STAMP.write_text(want)
    return _python()


def main(argv: list[str]) -> int:
    task = argv[0] if argv else "help"
    rest = argv[1:]
    if task == "example":
        py = ensure_venv()
        example = ROOT / "examples" / "lung-international"
        subprocess.run([str(py), str(ROOT / "examples" / "make_examples.py")], check=True)
        out = ROOT / "build" / "example-packet"
        check = subprocess.run([str(py), "-m", "opinionkit", "check", str(example / "case.yaml")])
        if check.returncode != 0:
            return check.returncode
        return subprocess.run(
            [
                str(py),
                "-m",
                "opinionkit",
                "bundle",
                str(example / "case.yaml"),
                "--out",
                str(out),
                "--force",
                *rest,
            ]
        ).returncode
    if task == "test":
        py = ensure_venv()
        subprocess.run([str(py), str(ROOT / "examples" / "make_examples.py")], check=True)
        return subprocess.run([str(py), "-m", "pytest", *rest], cwd=ROOT).returncode
    if task == "lint":
        py = ensure_venv()
        a = subprocess.run([str(py), "-m", "ruff", "check", "."], cwd=ROOT).returncode
        b = subprocess.run([str(py), "-m", "ruff", "format", "--check", "."], cwd=ROOT).returncode
        c = subprocess.run([str(py), "-m", "mypy"], cwd=ROOT).returncode
        return a or b or c
    print(__doc__)
    print("tasks: example | test [pytest args] | lint")
    return 0 if task == "help" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

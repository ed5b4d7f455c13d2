"""Run opinionkit against every class of hostile input and count crashes, hangs and leaks.

    .venv/bin/python benchmarks/robustness.py [--fuzz 2000]

Classes: the 60 PDFs of ../shared/corpus/pdf (each as the record of a case, through
`check` and through `bundle --allow-incomplete`, as real subprocesses), hostile YAML case
files plus random mutations of a valid one (through `check`), path attacks (`..`,
absolute paths, symlinks out, FIFOs, devices, folders), hostile templates (Python
internals, runaway Jinja and Typst loops) and interrupted bundles (SIGINT, SIGKILL).

A *crash* is a traceback or exit code 70; a *hang* is a run that outlives its bound
(120 s); a *leak* is the fixture patient's name, date of birth or MRN in any output or
output file name; a *leftover* is a temporary file after the run. Prints one table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile import (  # noqa: E402
    BAD_YAML,
    SECRETS,
    TOKENS,
    _slow_case,
    make_case,
    report_pdf,
)

CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"
ENV = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"}


class Tally:
    def __init__(self) -> None:
        self.rows: dict[str, Counter[str]] = {}

    def add(
        self,
        cls: str,
        *,
        crash: bool = False,
        hang: bool = False,
        leak: bool = False,
        leftover: bool = False,
    ) -> None:
        row = self.rows.setdefault(cls, Counter())
        row["inputs"] += 1
        row["crashes"] += crash
        row["hangs"] += hang
        row["leaks"] += leak
        row["leftovers"] += leftover


def run(args: list[str], timeout: float = 120) -> tuple[int | None, str]:
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "opinionkit", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=ENV,
        )
    except subprocess.TimeoutExpired:
        return None, ""
    return proc.returncode, proc.stdout + proc.stderr


def judge(
    tally: Tally, cls: str, code: int | None, output: str, folder: Path | None = None
) -> None:
    leftovers = False
    if folder is not None:
        leftovers = any(".tmp-" in p.name for p in folder.rglob("*"))
    names = " ".join(p.name for p in folder.rglob("*")) if folder else ""
    tally.add(
        cls,
        crash=code == 70 or "Traceback" in output,
        hang=code is None,
        leak=any(s in output or s in names for s in SECRETS),
        leftover=leftovers,
    )


def corpus(tally: Tally, work: Path) -> None:
    if not CORPUS.is_dir():
        return
    for pdf in sorted(CORPUS.iterdir()):
        if pdf.name == "SOURCES.txt":
            continue
        folder = work / f"corpus-{pdf.stem}"
        case = make_case(
            folder, [{"kind": "lab-report", "title": "Record", "file": "records/x.pdf"}]
        )
        shutil.copyfile(pdf, folder / "records" / "x.pdf")
        code, out = run(["check", str(case), "--format", "json", "--today", "2026-11-24"])
        judge(tally, "corpus PDFs: check", code, out)
        code, out = run(
            [
                "bundle",
                str(case),
                "--out",
                str(folder / "out"),
                "--allow-incomplete",
                "--today",
                "2026-11-24",
            ]
        )
        judge(tally, "corpus PDFs: bundle", code, out, folder)


def case_files(tally: Tally, work: Path, fuzz: int) -> None:
    from opinionkit.check import CheckOptions, check_case

    for i, data in enumerate(BAD_YAML):
        path = work / f"bad-{i}.yaml"
        path.write_bytes(data)
        code, out = run(["check", str(path), "--format", "json"])
        judge(tally, "hostile YAML", code, out)
    base = make_case(work / "fuzzbase")
    text = base.read_text()
    rng = random.Random(7)
    for _ in range(fuzz):
        t = text
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(t))
            t = t[:pos] + rng.choice(TOKENS) + t[pos + rng.randint(0, 20) :]
        target = base.parent / "fuzz.yaml"
        target.write_text(t, encoding="utf-8", errors="replace")
        crash = False
        try:
            result = check_case(target, CheckOptions(files=False))
            messages = " ".join(f.message + (f.hint or "") for f in result.findings)
        except Exception:
            crash, messages = True, ""
        tally.add(
            "mutated case files (in-process)",
            crash=crash,
            leak=any(s in messages for s in SECRETS[:2]),
        )


def paths(tally: Tally, work: Path) -> None:
    folder = work / "paths"
    outside = work / "outside.pdf"
    report_pdf(outside)
    attacks = {
        "up": "../outside.pdf",
        "abs": str(outside),
        "link": "records/link.pdf",
        "fifo": "records/fifo.pdf",
        "dev": "records/dev.pdf",
        "dir": "records/dir.pdf",
    }
    case = make_case(
        folder, [{"kind": "lab-report", "title": k, "file": v} for k, v in attacks.items()]
    )
    (folder / "records" / "link.pdf").symlink_to(outside)
    os.mkfifo(folder / "records" / "fifo.pdf")
    (folder / "records" / "dev.pdf").symlink_to("/dev/zero")
    (folder / "records" / "dir.pdf").mkdir()
    code, out = run(["check", str(case), "--format", "json", "--today", "2026-11-24"], timeout=60)
    found = {f["path"] for f in json.loads(out)["cases"][0]["findings"]} if code == 1 else set()
    for rel in attacks.values():
        tally.add(
            "path attacks",
            crash=code == 70,
            hang=code is None,
            leak=any(s in out for s in SECRETS) or rel not in found,
        )


def templates(tally: Tally, work: Path) -> None:
    case = make_case(work / "tplcase")
    attacks = {
        "letter.typ.j2": "{{ case.__class__.__init__.__globals__ }}",
        "summary.typ.j2": "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "index.typ.j2": "#for i in range(100000000) { [x] }",
        "base.typ.j2": '#read("/etc/passwd")',
    }
    for name, body in attacks.items():
        tpl = work / f"tpl-{name}"
        tpl.mkdir()
        (tpl / name).write_text(body + "\n")
        code, out = run(
            [
                "bundle",
                str(case),
                "--out",
                str(work / f"o-{name}"),
                "--templates",
                str(tpl),
                "--template-timeout",
                "10",
                "--today",
                "2026-11-24",
            ]
        )
        tally.add(
            "hostile templates",
            crash=code in (0, 70) or "Traceback" in out,
            hang=code is None,
            leak=any(s in out for s in SECRETS),
            leftover=any(".tmp-" in p.name for p in work.iterdir()),
        )


def interrupts(tally: Tally, work: Path) -> None:
    folder = work / "slow"
    case = _slow_case(folder)
    out = folder / "out"
    run(["bundle", str(case), "--out", str(out), "--today", "2026-11-24"])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for sig in (signal.SIGINT, signal.SIGKILL):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opinionkit",
                "bundle",
                str(case),
                "--out",
                str(out),
                "--force",
                "--today",
                "2026-11-24",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(".tmp-" in p.name for p in folder.iterdir()):
            time.sleep(0.02)
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=60)
        if sig == signal.SIGKILL:
            run(["bundle", str(case), "--out", str(out), "--force", "--today", "2026-11-24"])
            before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        intact = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
        tally.add(
            "interrupted bundles",
            crash="Traceback" in stderr or not intact,
            leftover=any(".tmp-" in p.name for p in folder.iterdir()),
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--fuzz", type=int, default=2000)
    args = ap.parse_args()
    tally = Tally()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for step in (
            lambda: corpus(tally, work),
            lambda: case_files(tally, work, args.fuzz),
            lambda: paths(tally, work),
            lambda: templates(tally, work),
            lambda: interrupts(tally, work),
        ):
            step()
    cols = ("inputs", "crashes", "hangs", "leaks", "leftovers")
    print(f"{'class':34}" + "".join(f"{c:>10}" for c in cols))
    total: Counter[str] = Counter()
    for cls, row in tally.rows.items():
        print(f"{cls:34}" + "".join(f"{row[c]:>10}" for c in cols))
        total.update(row)
    print(f"{'total':34}" + "".join(f"{total[c]:>10}" for c in cols))
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if any(total[c] for c in cols[1:]) else 0


if __name__ == "__main__":
    raise SystemExit(main())

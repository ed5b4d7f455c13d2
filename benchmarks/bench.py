"""Time `opinionkit bundle` against plain merges of the same files (PRODUCT.md section 8).

    .venv/bin/python benchmarks/bench.py [--runs 3] [--data benchmarks/data]

Generates the reference inputs on first use (benchmarks/make_reference.py: ~800 pages,
~150 MB), writes a case file for them, then runs, several times each and in one process
so the ratios are comparable:

* ``opinionkit bundle`` (check included: every record opened, identity read, then the
  packet, letter, manifest written);
* a plain pypdf merge (PdfWriter.append of every file, written to disk);
* ``qpdf --empty --pages ... --`` (when qpdf is installed).

opinionkit's own modules are byte-compiled first (``compileall``), as ``pip install`` does
for an installed copy: a development checkout run with ``PYTHONDONTWRITEBYTECODE`` set
would otherwise recompile them from source in every run (~0.15 s), which no user pays.
Each run is a separate process; its peak memory is that process's max RSS (wait4).
Prints medians, the ratios to the plain merges, and peak memory against the total input
size. Timings are noisy: compare ratios from one run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CASE_HEAD = """# Reference packet for the benchmark (fictional patient).
schema_version: 1
case_id: BENCH-001
profile: adult-general
prepared: 2026-11-20
patient:
  name: Bench Marker
  date_of_birth: 1960-01-01
  phone: 555-0100
care_team:
  treating_oncologist: {name: Dr. Timing Test, phone: 555-0101}
request:
  primary_question: How fast can this packet be assembled?
diagnosis:
  cancer_type: Colorectal adenocarcinoma
  date: 2026-01-10
  symptoms: [{description: fatigue, onset: 2025-12-01}]
treatment:
  plan: FOLFOX every two weeks.
medications: none
allergies: none
records:
"""

KINDS = [
    "pathology-report",
    "imaging-report",
    "lab-report",
    "consultation-letter",
    "operative-report",
    "treatment-plan",
    "genomic-report",
    "discharge-summary",
]

MERGE_PYPDF = """
import sys
from pypdf import PdfWriter
w = PdfWriter()
for f in sys.argv[2:]:
    w.append(f)
with open(sys.argv[1], "wb") as fh:
    w.write(fh)
"""


def write_case(data: Path) -> list[Path]:
    files = sorted(data.glob("*.pdf"))
    lines = [CASE_HEAD]
    for i, f in enumerate(files):
        kind = KINDS[i % len(KINDS)]
        lines.append(
            f"  - {{kind: {kind}, title: Record {i + 1}, date: 2026-0{1 + i % 9}-15, "
            f"source: Benchmark Hospital, file: {f.name}}}\n"
        )
    (data / "case.yaml").write_text("".join(lines), encoding="utf-8")
    return files


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time (s) and peak RSS (bytes) of one child process.

    The disk is synced first (untimed): the merges leave ~190 MB of unwritten output in
    the page cache, which the next job (whichever it is) would otherwise pay to flush."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"command failed: {' '.join(cmd[:4])} ...\n{err}")
    return elapsed, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    args = ap.parse_args(argv)
    data: Path = args.data
    if not any(data.glob("*.pdf")):
        subprocess.run(
            [sys.executable, str(HERE / "make_reference.py"), "--out", str(data)], check=True
        )
    files = write_case(data)
    import opinionkit

    package = Path(opinionkit.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    size = sum(f.stat().st_size for f in files)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        jobs: dict[str, list[str]] = {
            "opinionkit bundle": [
                py,
                "-m",
                "opinionkit",
                "bundle",
                str(data / "case.yaml"),
                "--out",
                str(out / "packet"),
                "--force",
                "--today",
                "2026-11-24",
            ],
            "pypdf merge": [py, "-c", MERGE_PYPDF, str(out / "pypdf.pdf"), *map(str, files)],
        }
        if shutil.which("qpdf"):
            jobs["qpdf merge"] = [
                "qpdf",
                "--empty",
                "--pages",
                *map(str, files),
                "--",
                str(out / "qpdf.pdf"),
            ]
        env = dict(os.environ, SOURCE_DATE_EPOCH="1790000000")
        times: dict[str, list[float]] = {k: [] for k in jobs}
        peaks: dict[str, int] = dict.fromkeys(jobs, 0)
        for _ in range(args.runs):  # interleaved, so drift hits every job alike
            for name, cmd in jobs.items():
                t, rss = run(cmd, env)
                times[name].append(t)
                peaks[name] = max(peaks[name], rss)
        packet = out / "packet" / "BENCH-001-packet.pdf"
        from pypdf import PdfReader

        pages = len(PdfReader(packet).pages)
        packet_size = packet.stat().st_size
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"inputs: {len(files)} files, {size / 1e6:.1f} MB; packet: {pages} pages, "
        f"{packet_size / 1e6:.1f} MB; {args.runs} runs each (median)"
    )
    print(f"{'job':20} {'median s':>9} {'peak MB':>9}")
    for name in jobs:
        print(f"{name:20} {med[name]:9.2f} {peaks[name] / 1e6:9.0f}")
    bundle = med["opinionkit bundle"]
    for base in ("qpdf merge", "pypdf merge"):
        if base in med:
            print(f"bundle / {base}: {bundle / med[base]:.2f}x time")
    extra = (peaks["opinionkit bundle"] - size) / 1e6
    print(
        f"bundle peak memory: {peaks['opinionkit bundle'] / 1e6:.0f} MB = inputs "
        f"{size / 1e6:.0f} MB {'+' if extra >= 0 else '-'} {abs(extra):.0f} MB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The speed and memory benchmark of PRODUCT.md section 8, in one command.

    .venv/bin/python benchmarks/bench.py [--runs 3] [--data benchmarks/data] [--quick]

Generates the reference inputs on first use (benchmarks/make_reference.py: 44 files,
~776 pages, ~187 MB), then makes, from hard links to them (no extra disk):

* the **reference** case (1x, 44 files);
* the **4x** case (176 files, ~3,100 pages) and the **12x** case (528 files, more than
  256, ~9,300 pages);
* a **batch** of 20 example cases (copies of the three complete examples).

and runs, interleaved (every job once per round, so drift hits all alike), ``--runs``
rounds of:

* ``opinionkit bundle`` of the 1x, 4x and 12x cases (check included);
* ``qpdf --empty --pages ... --`` of the same files (the yardstick);
* the **tool pipeline**: what existing tools can do of the job, as one would script it
  (SHA-256 of the inputs and ``pdftotext`` of the typed reports in the background, one
  qpdf run merging the files and overlaying a stamp PDF made beforehand, SHA-256 of the
  output); it makes no letter, index, bookmarks, labels, links, limits, identity
  judgement, atomic write or manifest;
* ``opinionkit check`` and ``bundle`` of the batch with ``--jobs 1`` and ``--jobs 2``.

Prints medians, ratios, peak whole-tree memory and the cost per 1,000 pages.

**Start-up** (``--startup-runs``, 10 by default, in rounds of their own): ``opinionkit
check`` of two small cases, a copy of examples/incomplete (two one-page PDFs) and a case
of one small PDF, where the interpreter's start and the imports are most of the time.
``--baseline DIR`` (a checkout of an older commit, e.g. ``git worktree add /tmp/old
<commit>``) runs the same checks with that checkout's ``src`` first on ``PYTHONPATH``
(copied and byte-compiled here, the checkout is not written to), alternating old and new,
and prints the ratios new / old. ``--startup-only`` runs these alone (no reference inputs
needed).

**Peak whole-tree memory** is the largest sum of the resident set sizes (``VmRSS``) of
the job's process and all its descendants, sampled every 10 ms from ``/proc`` (children
found through ``/proc/<pid>/task/<tid>/children``); pages shared between processes are
counted in each, so it is an upper bound of what the tree needs. A job shorter than the
sampling interval may be missed: the largest single process's ``ru_maxrss`` (``wait4``
for the job and ``RUSAGE_CHILDREN`` for its reaped children) is taken as a floor.

opinionkit's own modules are byte-compiled first (``compileall``), as ``pip install`` does
for an installed copy. ``--quick`` (a smoke run, no figures to quote): one round, the 1x
case and a batch of 4, no 4x/12x. Timings are noisy: compare ratios from one run, not
absolute figures across runs.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLES = ["lung-international", "paediatric-all", "sarcoma-adult"]
TODAY = "2026-11-24"

CASE_HEAD = """# Reference packet for the benchmark (fictional patient).
schema_version: 1
case_id: {case_id}
profile: adult-general
prepared: 2026-11-20
patient:
  name: Bench Marker
  date_of_birth: 1960-01-01
  phone: 555-0100
care_team:
  treating_oncologist: {{name: Dr. Timing Test, phone: 555-0101}}
request:
  primary_question: How fast can this packet be assembled?
diagnosis:
  cancer_type: Colorectal adenocarcinoma
  date: 2026-01-10
  symptoms: [{{description: fatigue, onset: 2025-12-01}}]
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

PIPELINE = r"""
set -e
out="$1"; stamp="$2"; shift 2
# in the background: SHA-256 of the inputs, text of the typed reports
( sha256sum "$@" > "$out/inputs.sha256" ) &
hashing=$!
( for f in "$@"; do case "$f" in *report-*) pdftotext -q "$f" "$out/$(basename "$f").txt";; esac; done ) &
texts=$!
qpdf --empty --pages "$@" -- --overlay "$stamp" -- "$out/pipeline.pdf"
sha256sum "$out/pipeline.pdf" > "$out/output.sha256"
wait $hashing $texts
"""


def write_case(case_dir: Path, files: list[Path], case_id: str) -> Path:
    lines = [CASE_HEAD.format(case_id=case_id)]
    for i, f in enumerate(files):
        kind = KINDS[i % len(KINDS)]
        lines.append(
            f"  - {{kind: {kind}, title: Record {i + 1}, date: 2026-0{1 + i % 9}-15, "
            f"source: Benchmark Hospital, file: {f.relative_to(case_dir)}}}\n"
        )
    case = case_dir / "case.yaml"
    case.write_text("".join(lines), encoding="utf-8")
    return case


ONE_PDF_CASE = """# One small PDF, for the start-up benchmark (fictional patient).
schema_version: 1
case_id: START-001
profile: adult-general
prepared: 2026-11-20
patient:
  name: Ruth Calloway
  date_of_birth: 1955-11-02
  mrns: [{institution: Lakeview General Hospital, mrn: LK-003318}]
care_team:
  treating_oncologist: {name: Dr. Marcus Iyer, phone: 555-0250}
request:
  primary_question: Is breast-conserving surgery possible?
diagnosis:
  cancer_type: Breast cancer
  date: 2026-10-28
medications: none
allergies: none
records:
  - {kind: imaging-report, title: Diagnostic mammogram, date: 2026-10-20, file: mammogram.pdf}
"""


def small_cases(work: Path) -> dict[str, Path]:
    """The start-up benchmark's cases: examples/incomplete (two PDFs) and one of one PDF."""
    incomplete = work / "small" / "incomplete"
    shutil.copytree(ROOT / "examples" / "incomplete", incomplete)
    one = work / "small" / "one-pdf"
    one.mkdir()
    shutil.copyfile(incomplete / "records" / "mammogram-report.pdf", one / "mammogram.pdf")
    (one / "case.yaml").write_text(ONE_PDF_CASE, encoding="utf-8")
    return {"incomplete": incomplete / "case.yaml", "one PDF": one / "case.yaml"}


def copy_baseline(checkout: Path, work: Path) -> Path:
    """A byte-compiled copy of ``checkout``'s src (and templates, found beside it)."""
    if not (checkout / "src" / "opinionkit").is_dir():
        raise SystemExit(f"{checkout}: not an opinionkit checkout (no src/opinionkit)")
    dst = work / "baseline"
    shutil.copytree(checkout / "src", dst / "src")
    if (checkout / "templates").is_dir():
        shutil.copytree(checkout / "templates", dst / "templates")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dst / "src")], check=True)
    return dst / "src"


def startup(work: Path, src: Path, env: dict[str, str], runs: int, baseline: Path | None) -> None:
    """Interleaved rounds of ``check`` of the small cases (with the baseline's after each
    of ours); prints medians of wall and CPU time, and the ratios new / old."""
    if runs < 1:  # --startup-runs 0: no start-up job
        return
    cases = small_cases(work)
    sides = {"": src}
    if baseline is not None:
        sides[" (baseline)"] = copy_baseline(baseline, work)
    jobs: dict[str, tuple[list[str], dict[str, str]]] = {}
    for label, case in cases.items():
        for side, path in sides.items():
            cmd = [sys.executable, "-m", "opinionkit", "check", str(case), "--today", TODAY]
            jobs[f"check {label}{side}"] = (cmd, dict(env, PYTHONPATH=str(path)))
    times: dict[str, list[float]] = {k: [] for k in jobs}
    cpus: dict[str, list[float]] = {k: [] for k in jobs}
    for r in range(runs + 1):  # round 0 warms the page cache and is not counted
        for name, (cmd, job_env) in jobs.items():
            t, _, cpu = run(cmd, job_env, ok=(0, 1))
            if r:
                times[name].append(t)
                cpus[name].append(cpu)
                print(f"  start-up round {r}: {name:28} {t:6.3f} s", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpus.items()}
    print(f"start-up: {runs} round(s), interleaved, medians")
    print(f"{'job':32} {'median s':>9} {'cpu s':>7}")
    for name in jobs:
        print(f"{name:32} {med[name]:9.3f} {cpu_med[name]:7.3f}")
    if baseline is not None:
        for label in cases:
            new, old = f"check {label}", f"check {label} (baseline)"
            print(
                f"start-up, check {label}: new / baseline {med[new] / med[old]:.2f}x time, "
                f"{cpu_med[new] / cpu_med[old]:.2f}x CPU"
            )


def scaled_case(data: Path, work: Path, factor: int) -> tuple[Path, list[Path]]:
    """A case of ``factor`` copies (hard links, or copies across devices) of every file."""
    sources = sorted(data.glob("*.pdf"))
    if factor == 1:
        return write_case(data, sources, "BENCH-001"), sources
    folder = work / f"x{factor}"
    folder.mkdir()
    files = []
    for k in range(factor):
        for src in sources:
            dst = folder / f"c{k:02d}-{src.name}"
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
            files.append(dst)
    return write_case(folder, files, f"BENCH-{factor:03d}"), files


def batch_cases(work: Path, count: int) -> list[str]:
    cases = []
    for i in range(count):
        dst = work / "batch" / f"case{i:02d}"
        shutil.copytree(ROOT / "examples" / EXAMPLES[i % 3], dst)
        text = (dst / "case.yaml").read_text()
        (dst / "case.yaml").write_text(
            re.sub(r"case_id: \S+", f"case_id: J-{i:03d}", text, count=1)
        )
        cases.append(str(dst / "case.yaml"))
    return cases


# --------------------------------------------------------------------------- measuring


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
    except (OSError, ValueError):
        pass
    return kids


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def tree_rss(pid: int) -> int:
    """The sum of VmRSS over ``pid`` and all its descendants, now."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _rss(p)
        todo.extend(_children(p))
    return total


ARRIVALS: dict[str, list[float]] = {}
"""Per batch job, in each round: seconds per case once every worker has finished its
first case (from the ``jobs``-th result line to the last, over the cases between)."""


def run(
    cmd: list[str],
    env: dict[str, str],
    ok: tuple[int, ...] = (0,),
    lines: list[float] | None = None,
) -> tuple[float, int, float]:
    """Wall time (s), peak whole-tree memory (bytes) and CPU time (s: user + system of
    the job and every descendant it waited for) of one job; an exit code not in ``ok``
    stops the benchmark. With ``lines``, the job's standard output is read and the time
    (s since the start) each line arrived is appended to it.

    The disk is synced first (untimed): a merge leaves up to 2 GB of unwritten output in
    the page cache, which the next job (whichever it is) would otherwise pay to flush."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.DEVNULL if lines is None else subprocess.PIPE
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None and lines is not None
        for _ in proc.stdout:
            lines.append(time.perf_counter() - start)

    reader = threading.Thread(target=read, daemon=True) if lines is not None else None
    if reader is not None:
        reader.start()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if reader is not None:
        reader.join()
    if os.waitstatus_to_exitcode(status) not in ok:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"command failed: {' '.join(cmd[:5])} ...\n{err[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    floor = max(usage.ru_maxrss, after if after > before else 0) * 1024
    return elapsed, max(peak[0], floor), usage.ru_utime + usage.ru_stime


# pikepdf and Typst run in helper processes: this one stays small, so that a job's child
# sampled between fork and exec (a copy of this process) does not inflate its figure.
_PAGES = "import pikepdf, sys; print(sum(len(pikepdf.open(f).pages) for f in sys.argv[1:]))"
_STAMPS = """
import sys
from pathlib import Path
from opinionkit.pdf.stamp import StampSpec, render_stamps
n = int(sys.argv[2])
spec = StampSpec("Bench Marker · DOB 1960-01-01 · case BENCH-001")
Path(sys.argv[1]).write_bytes(render_stamps(spec, [(595.276, f"Page {i} of {n}") for i in range(1, n + 1)]))
"""


def pages_of(*paths: Path) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _PAGES, *map(str, paths)], capture_output=True, check=True
    )
    return int(out.stdout)


def make_stamp_pdf(path: Path, pages: int) -> None:
    """The pipeline's overlay: one footer page per packet page, made before it is timed."""
    subprocess.run([sys.executable, "-c", _STAMPS, str(path), str(pages)], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, default=HERE / "data")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 round, 1x case, 4 cases")
    ap.add_argument("--cases", type=int, default=20, help="cases in the batch")
    ap.add_argument("--startup-runs", type=int, default=10, help="rounds of the start-up job")
    ap.add_argument(
        "--baseline", type=Path, help="checkout of an older commit: start-up ratios new / old"
    )
    ap.add_argument("--startup-only", action="store_true", help="the start-up job alone")
    args = ap.parse_args(argv)
    runs = 1 if args.quick else args.runs
    factors = (1,) if args.quick else (1, 4, 12)
    n_cases = min(args.cases, 4) if args.quick else args.cases
    data: Path = args.data
    startup_runs = min(args.startup_runs, 3) if args.quick else args.startup_runs
    import opinionkit  # its __init__ only

    package = Path(opinionkit.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    # OCR off: the default install has no OCR extra, and the figures are for it (the
    # reference scans would otherwise be read with OCR, seconds a page: ocr_bench.py)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1790000000", OPINIONKIT_OCR="off")
    if args.startup_only:
        with tempfile.TemporaryDirectory() as tmp:
            startup(Path(tmp), package.parent, env, startup_runs, args.baseline)
        return 0
    if not any(data.glob("*.pdf")):
        subprocess.run(
            [sys.executable, str(HERE / "make_reference.py"), "--out", str(data)], check=True
        )
    have_tools = all(shutil.which(t) for t in ("qpdf", "pdftotext", "sha256sum"))
    py = sys.executable
    with tempfile.TemporaryDirectory(dir=data.parent) as tmp:
        work = Path(tmp)
        out = work / "out"
        out.mkdir()
        jobs: dict[str, list[str]] = {}
        sizes: dict[int, tuple[int, int]] = {}  # factor -> (files, bytes)
        case_files: dict[int, list[Path]] = {}
        for factor in factors:
            case, files = scaled_case(data, work, factor)
            case_files[factor] = files
            sizes[factor] = (len(files), sum(f.stat().st_size for f in files))
            jobs[f"bundle {factor}x"] = [
                py, "-m", "opinionkit", "bundle", str(case),
                "--out", str(out / f"packet{factor}"), "--force", "--today", TODAY,
            ]  # fmt: skip
            if have_tools:
                jobs[f"qpdf {factor}x"] = [
                    "qpdf", "--empty", "--pages", *map(str, files), "--", str(out / "qpdf.pdf")
                ]  # fmt: skip
        if have_tools:
            stamp_pdf = work / "stamp.pdf"
            merged = pages_of(*case_files[1])
            make_stamp_pdf(stamp_pdf, merged)
            pipe_out = out / "pipeline"
            pipe_out.mkdir()
            jobs["tool pipeline 1x"] = [
                "bash", "-c", PIPELINE, "pipeline", str(pipe_out), str(stamp_pdf),
                *map(str, case_files[1]),
            ]  # fmt: skip
        cases = batch_cases(work, n_cases)
        for cmd in ("check", "bundle"):
            for j in (1, 2):
                extra = ["--out", str(out / "batch"), "--force"] if cmd == "bundle" else []
                jobs[f"{cmd} batch --jobs {j}"] = [
                    py, "-m", "opinionkit", cmd, *cases, *extra,
                    "--jobs", str(j), "--format", "jsonl", "--today", TODAY,
                ]  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in jobs}
        cpus: dict[str, list[float]] = {k: [] for k in jobs}
        peaks: dict[str, int] = dict.fromkeys(jobs, 0)
        for r in range(runs):  # interleaved, so drift hits every job alike
            for name, argv in jobs.items():
                lines: list[float] | None = [] if " batch " in name else None
                t, rss, cpu = run(argv, env, lines=lines)
                j = int(name.rsplit(" ", 1)[1]) if lines else 0
                if lines and len(lines) > j:  # one line a case, as each finishes
                    per_case = (lines[-1] - lines[j - 1]) / (len(lines) - j)
                    ARRIVALS.setdefault(name, []).append(per_case)
                times[name].append(t)
                cpus[name].append(cpu)
                peaks[name] = max(peaks[name], rss)
                print(f"  round {r + 1}: {name:22} {t:7.2f} s", file=sys.stderr)
        pages = {f: pages_of(out / f"packet{f}" / f"BENCH-{f:03d}-packet.pdf") for f in factors}
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpus.items()}
    print(
        f"{runs} round(s), interleaved, medians; {os.cpu_count()} CPUs; peak = whole process "
        "tree (sampled sum of RSS)"
    )
    print(f"{'job':24} {'median s':>9} {'cpu s':>7} {'peak MB':>8} {'s/1000 p':>9}")
    for name in jobs:
        m = re.match(r"\w+ (\d+)x", name)
        per = ""
        if m and name.split()[0] in ("bundle", "qpdf", "tool"):
            per = f"{med[name] / pages[int(m.group(1))] * 1000:9.2f}"
        print(f"{name:24} {med[name]:9.2f} {cpu_med[name]:7.2f} {peaks[name] / 1e6:8.0f} {per:>9}")
    print()
    for factor in factors:
        count, size = sizes[factor]
        line = f"{factor}x: {count} files, {size / 1e6:.0f} MB, packet {pages[factor]} pages"
        if f"qpdf {factor}x" in med:
            b, q = f"bundle {factor}x", f"qpdf {factor}x"
            line += (
                f"; bundle / qpdf {med[b] / med[q]:.2f}x time, {cpu_med[b] / cpu_med[q]:.2f}x CPU"
            )
        print(line)
    if "tool pipeline 1x" in med:
        b, p = "bundle 1x", "tool pipeline 1x"
        print(
            f"1x: bundle / tool pipeline {med[b] / med[p]:.2f}x time, {cpu_med[b] / cpu_med[p]:.2f}x CPU"
        )
    if len(factors) > 1:
        base = med["bundle 1x"] / pages[1]
        growth = ", ".join(f"{f}x {med[f'bundle {f}x'] / pages[f] / base:.2f}" for f in factors[1:])
        print(f"bundle cost per 1,000 pages relative to 1x: {growth}")
    for cmd in ("check", "bundle"):
        one, two = med[f"{cmd} batch --jobs 1"], med[f"{cmd} batch --jobs 2"]
        print(f"batch of {n_cases} cases, {cmd}: --jobs 2 is {one / two:.2f}x faster than --jobs 1")
        rate = [statistics.median(ARRIVALS.get(f"{cmd} batch --jobs {j}", [0.0])) for j in (1, 2)]
        if all(rate):  # without start-up and each worker's first case
            print(
                f"  once each worker has done its first case: --jobs 1 {rate[0]:.3f} s a case, "
                f"--jobs 2 {rate[1]:.3f} s ({rate[0] / rate[1]:.2f}x)"
            )
    print()
    with tempfile.TemporaryDirectory() as tmp:
        startup(Path(tmp), package.parent, env, startup_runs, args.baseline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

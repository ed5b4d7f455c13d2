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
* ``opinionkit check`` and ``bundle`` of the batch with ``--jobs 1`` and ``--jobs 2``;
* ``opinionkit check`` of a small case (two one-page reports): the start-up;
* with ``--baseline DIR`` (a checkout of an older commit, sharing this environment's
  packages), the start-up and batch jobs again with ``PYTHONPATH=DIR/src``, and the
  new/old ratios.

Prints medians, ratios, peak whole-tree memory and the cost per 1,000 pages.

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


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Wall time (s), peak whole-tree memory (bytes) and CPU time (s: user + system of
    the job and every descendant it waited for) of one job.

    The disk is synced first (untimed): a merge leaves up to 2 GB of unwritten output in
    the page cache, which the next job (whichever it is) would otherwise pay to flush."""
    os.sync()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
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
    ap.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of an older commit: its start-up and batch jobs run too "
        "(PYTHONPATH=DIR/src), interleaved, and the new/old ratios print",
    )
    args = ap.parse_args(argv)
    runs = 1 if args.quick else args.runs
    factors = (1,) if args.quick else (1, 4, 12)
    n_cases = min(args.cases, 4) if args.quick else args.cases
    data: Path = args.data
    if not any(data.glob("*.pdf")):
        subprocess.run(
            [sys.executable, str(HERE / "make_reference.py"), "--out", str(data)], check=True
        )
    import opinionkit  # its __init__ only

    package = Path(opinionkit.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    have_tools = all(shutil.which(t) for t in ("qpdf", "pdftotext", "sha256sum"))
    py = sys.executable
    # OCR off: the default install has no OCR extra, and the figures are for it (the
    # reference scans would otherwise be read with OCR, seconds a page: ocr_bench.py)
    env = dict(os.environ, SOURCE_DATE_EPOCH="1790000000", OPINIONKIT_OCR="off")
    with tempfile.TemporaryDirectory(dir=data.parent) as tmp:
        work = Path(tmp)
        out = work / "out"
        out.mkdir()
        jobs: dict[str, list[str]] = {}
        envs: dict[str, dict[str, str]] = {}  # a job's environment, when not ``env``
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
        small = work / "small"
        shutil.copytree(ROOT / "tests" / "cases" / "base", small)
        versions = [("", env)]
        if args.baseline is not None:
            old_src = str(args.baseline.resolve() / "src")
            subprocess.run([py, "-m", "compileall", "-q", old_src], check=True)
            versions.append((" (baseline)", dict(env, PYTHONPATH=old_src)))
        for tag, job_env in versions:
            # start-up: a case of two one-page reports
            jobs[f"check small case{tag}"] = [
                py, "-m", "opinionkit", "check", str(small / "case.yaml"), "--today", TODAY,
            ]  # fmt: skip
            envs[f"check small case{tag}"] = job_env
            for cmd in ("check", "bundle"):
                for j in (1, 2):
                    extra = ["--out", str(out / "batch"), "--force"] if cmd == "bundle" else []
                    name = f"{cmd} batch --jobs {j}{tag}"
                    jobs[name] = [
                        py, "-m", "opinionkit", cmd, *cases, *extra,
                        "--jobs", str(j), "--format", "json", "--today", TODAY,
                    ]  # fmt: skip
                    envs[name] = job_env
        times: dict[str, list[float]] = {k: [] for k in jobs}
        cpus: dict[str, list[float]] = {k: [] for k in jobs}
        peaks: dict[str, int] = dict.fromkeys(jobs, 0)
        for r in range(runs):  # interleaved, so drift hits every job alike
            for name, cmd in jobs.items():
                t, rss, cpu = run(cmd, envs.get(name, env))
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
    print(f"{'job':35} {'median s':>9} {'cpu s':>7} {'peak MB':>8} {'s/1000 p':>9}")
    for name in jobs:
        m = re.match(r"\w+ (\d+)x", name)
        per = ""
        if m and name.split()[0] in ("bundle", "qpdf", "tool"):
            per = f"{med[name] / pages[int(m.group(1))] * 1000:9.2f}"
        print(f"{name:35} {med[name]:9.2f} {cpu_med[name]:7.2f} {peaks[name] / 1e6:8.0f} {per:>9}")
    print()
    for factor in factors:
        files, size = sizes[factor]
        line = f"{factor}x: {files} files, {size / 1e6:.0f} MB, packet {pages[factor]} pages"
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
    for name in [k for k in jobs if k.endswith(" (baseline)")]:
        new = name.removesuffix(" (baseline)")
        print(
            f"{new}: {med[new] / med[name]:.2f}x the baseline's time, "
            f"{cpu_med[new] / cpu_med[name]:.2f}x its CPU"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

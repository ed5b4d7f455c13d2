"""What OCR of scanned records costs: seconds per scanned page, first run and cached run,
and peak memory.

    .venv/bin/python benchmarks/ocr_bench.py [--pages 8] [--fax 2] [--timeout 120]

Needs the OCR extra (``pip install -e '.[ocr]'``). Builds a case in a temporary folder:

* ``reference-scans.pdf``: ``--pages`` pages made by the reference packet's own scan
  generator (:func:`make_reference._scan_page`, same seed; JPEG at 150/175/200 dpi, noisy
  background, no patient name on them -- the worst case: the top of the page says
  nothing, so every page is read whole);
* ``fax.pdf``: ``--fax`` fax-like pages (200 dpi, bilevel, skewed, speckled) whose
  header names the patient (the common case: the top of the page is enough).

Then runs, each in its own process with both cores (``opinionkit check --ocr on``): a
first check (empty cache), a second check (every verdict cached), and a bundle (which
reads the scans again for the text layer). Peak memory is the largest process's max RSS
(the main process or one OCR worker; the workers run side by side). Timings are noisy on
a shared machine: run it alone.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CASE = """schema_version: 1
case_id: OCRB-001
profile: adult-general
prepared: 2026-11-20
patient:
  name: Bench Marker
  date_of_birth: 1960-01-01
  phone: 555-0100
  mrns: [{institution: Benchmark Hospital, mrn: BM-100200}]
care_team:
  treating_oncologist: {name: Dr. Timing Test, phone: 555-0101}
request:
  primary_question: How fast are scans read?
diagnosis:
  cancer_type: Colorectal adenocarcinoma
  date: 2026-01-10
  symptoms: [{description: fatigue, onset: 2025-12-01}]
treatment:
  plan: FOLFOX every two weeks.
medications: none
allergies: none
records:
  - {kind: pathology-report, title: Scans, date: 2026-01-15, file: reference-scans.pdf}
  - {kind: lab-report, title: Fax, date: 2026-02-15, file: fax.pdf}
"""

FAX_LINES = [
    "Benchmark Hospital - Laboratory",
    "FAX  page {n}",
    "Patient: Bench Marker    DOB: 01/01/1960    MRN: BM-100200",
    "Sodium 139 mmol/L   Potassium 4.1 mmol/L   Creatinine 71 umol/L",
    "Haemoglobin 13.2 g/dL   Platelets 260 x10^9/L",
]


def _fax_page(n: int, rng: random.Random) -> object:
    from PIL import Image, ImageDraw

    dpi = 200
    page = Image.new("L", (int(8.5 * dpi), int(11 * dpi)), 255)
    draw = ImageDraw.Draw(page)
    y = int(0.6 * dpi)
    for line in FAX_LINES:
        draw.text((int(0.8 * dpi), y), line.format(n=n), fill=0, font_size=dpi // 6)
        y += dpi // 4
    page = page.rotate(1.0, fillcolor=255)
    px = page.load()
    assert px is not None
    for _ in range(page.width * page.height // 500):
        px[rng.randrange(page.width), rng.randrange(page.height)] = 0
    return page.point(lambda v: 255 if v > 150 else 0).convert("1")


def make_case(folder: Path, pages: int, fax: int) -> None:
    from make_reference import _scan_page  # the reference packet's scans

    from opinionkit.pdf.images import images_to_pdf

    rng = random.Random(20240301)
    paths = []
    for k in range(pages):
        p = folder / f"s{k}.jpg"
        _scan_page(rng, (150, 175, 200)[k % 3], p)
        paths.append(p)
    (folder / "reference-scans.pdf").write_bytes(images_to_pdf(paths))
    for p in paths:
        p.unlink()
    faxes = [_fax_page(n + 1, rng) for n in range(fax)]
    faxes[0].save(  # type: ignore[attr-defined]
        folder / "fax.pdf", save_all=True, append_images=faxes[1:], resolution=200
    )
    (folder / "case.yaml").write_text(CASE, encoding="utf-8")


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall time (s) and the largest max RSS (bytes) of the process and its children."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: findings (the reference scans name nobody)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise SystemExit(f"command failed ({code}): {' '.join(cmd[:4])} ...\n{err}")
    return elapsed, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=8, help="reference scan pages")
    ap.add_argument("--fax", type=int, default=2, help="fax-like pages")
    ap.add_argument(
        "--timeout",
        default="120",
        help="--timeout for each page (a page over it is not cached: the cached run "
        "would read it again)",
    )
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_case(folder, args.pages, args.fax)
        rows = []
        for what, files in (("reference scans", "reference"), ("fax-like pages", "fax")):
            sub = folder / files
            sub.mkdir()
            shutil.copy(folder / "case.yaml", sub / "case.yaml")
            for f in ("reference-scans.pdf", "fax.pdf"):
                shutil.copy(folder / f, sub / f)
            keep = "reference-scans.pdf" if files == "reference" else "fax.pdf"
            text = (sub / "case.yaml").read_text()
            text = "\n".join(
                line for line in text.splitlines() if "file:" not in line or keep in line
            )
            (sub / "case.yaml").write_text(text + "\n")
            n = args.pages if files == "reference" else args.fax
            check = [py, "-m", "opinionkit", "check", str(sub / "case.yaml"), "--ocr", "on"]
            check += ["--timeout", args.timeout]
            first, mem1 = run(check)
            cached, _ = run(check)
            out = str(sub / "packet")
            bundle = [py, "-m", "opinionkit", "bundle", str(sub / "case.yaml"), "--ocr", "on"]
            bundle += ["--allow-incomplete", "--force", "--out", out, "--timeout", args.timeout]
            bundled, mem3 = run(bundle)
            rows.append((what, n, first, cached, bundled, max(mem1, mem3)))
    print(
        f"{'':18} {'pages':>5} {'check s/page':>13} {'cached s/page':>14} "
        f"{'bundle s/page':>14} {'peak MB':>8}"
    )
    for what, n, first, cached, bundled, mem in rows:
        print(
            f"{what:18} {n:5d} {first / n:13.2f} {cached / n:14.3f} {bundled / n:14.2f} "
            f"{mem / 2**20:8.0f}"
        )
    print(
        f"(cores: {os.cpu_count()}; check and bundle include starting the engine, ~1-2 s "
        "per worker; bundle reads every scan whole again for the text layer)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

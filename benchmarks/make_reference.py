"""Generate the reference packet inputs (PRODUCT.md section 8) into ``benchmarks/data/``.

About 800 pages / 150 MB: 30 typed reports of 1-6 pages (Typst), one of them landscape
and one with /Rotate pages, and 14 scanned files of 15-60 JPEG pages at 150-200 dpi
(noise + text drawn with Pillow, ~150-250 KB per page, embedded unchanged by
``opinionkit.pdf.images.images_to_pdf``). Deterministic (seeded). Usage::

    .venv/bin/python benchmarks/make_reference.py [--out benchmarks/data] [--force]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import typst
from PIL import Image, ImageDraw, ImageFilter
from pypdf import PdfReader, PdfWriter

from opinionkit.pdf.images import images_to_pdf

HERE = Path(__file__).resolve().parent
SCAN_PAGES = (60, 15, 58, 44, 52, 60, 38, 55, 47, 60, 41, 57, 50, 53)  # 690 scanned pages
WORDS = [
    "specimen",
    "margin",
    "carcinoma",
    "lymph",
    "node",
    "biopsy",
    "immunohistochemistry",
    "positive",
    "negative",
    "grade",
    "stage",
    "tumour",
    "resection",
    "frozen",
    "section",
    "staining",
    "cytology",
    "report",
    "clinical",
    "history",
    "diagnosis",
    "microscopic",
    "macroscopic",
    "description",
    "consistent",
    "with",
    "invasive",
    "ductal",
    "lobular",
]


def _typed_report(rng: random.Random, pages: int, landscape: bool) -> bytes:
    paras = []
    for _ in range(pages * 7):
        paras.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 70))) + ".")
    body = "\n\n".join(paras)
    flipped = "true" if landscape else "false"
    src = (
        f'#set page(paper: "a4", flipped: {flipped})\n#set text(size: 10pt)\n'
        f"= Report {rng.randint(1000, 9999)}\n\n{body}\n"
    )
    pdf = typst.compile(src.encode(), format="pdf")
    assert isinstance(pdf, bytes)
    return pdf


def _rotate_some(pdf: bytes) -> bytes:
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter(clone_from=reader)
    for i, page in enumerate(writer.pages):
        page.rotate((90, 180, 270, 0)[i % 4])
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _scan_page(rng: random.Random, dpi: int, path: Path) -> None:
    w, h = int(8.27 * dpi), int(11.69 * dpi)
    noise = Image.effect_noise((w // 3, h // 3), rng.uniform(9, 14)).resize((w, h))
    img = Image.merge("RGB", (noise, noise, noise)).point(lambda v: 200 + v // 5)
    draw = ImageDraw.Draw(img)
    y = int(0.8 * dpi)
    while y < h - dpi:
        x = int(0.7 * dpi)
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12)))
        draw.text((x, y), line, fill=(rng.randint(0, 60),) * 3, font_size=dpi // 7)
        y += dpi // 5 + rng.randint(0, 4)
    img = img.filter(ImageFilter.GaussianBlur(0.6)).rotate(
        rng.uniform(-0.8, 0.8), fillcolor="white"
    )
    img.save(path, "JPEG", quality=rng.randint(45, 58), dpi=(dpi, dpi))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=HERE / "data")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not args.force:
        print(f"{out} exists (use --force to regenerate)")
        return 0
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(20240301)
    t0 = time.perf_counter()
    for i in range(30):
        pdf = _typed_report(rng, rng.randint(1, 6), landscape=(i == 7))
        if i == 12:
            pdf = _rotate_some(pdf)
        (out / f"report-{i:02d}.pdf").write_bytes(pdf)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(14):
            n = SCAN_PAGES[i]
            dpi = 200 if i in (3, 9) else 175 if i == 5 else 150
            paths = []
            for k in range(n):
                p = Path(tmp) / f"s{i}-{k}.jpg"
                _scan_page(rng, dpi, p)
                paths.append(p)
            (out / f"scan-{i:02d}.pdf").write_bytes(images_to_pdf(paths))
            for p in paths:
                p.unlink()
            print(f"scan {i}: {n} pages", file=sys.stderr)
    files = sorted(out.glob("*.pdf"))
    pages = sum(len(PdfReader(f).pages) for f in files)
    size = sum(f.stat().st_size for f in files)
    print(
        f"{len(files)} files, {pages} pages, {size / 1e6:.1f} MB in {out} "
        f"({time.perf_counter() - t0:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

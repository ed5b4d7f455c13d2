"""Tiny, dependency-free PDF writer for test fixtures: pages of Helvetica text lines.

Real record PDFs come from examples/make_examples.py; tests need small files they can
make on the spot (and that pypdf extracts text from reliably). Also the small summaries
tests compare packets by (:func:`outline_rows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def text_pdf(
    pages: list[list[str]], *, rotate: int = 0, size: tuple[int, int] = (612, 792)
) -> bytes:
    """A PDF with one page per list of lines."""
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, then (page, content) pairs
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    for i, lines in enumerate(pages):
        stream = (
            b"BT /F1 11 Tf 72 720 Td 14 TL\n"
            + b"".join(b"(" + _escape(line) + b") Tj T*\n" for line in lines)
            + b"ET"
        )
        page = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]} {size[1]}] /Rotate {rotate} "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>"
        ).encode()
        objects.append(page)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    return serialize(objects)


def serialize(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (bodies of objects 1, 2, ...; object 1 the catalog)."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def write_text_pdf(path: Path, pages: list[list[str]], **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text_pdf(pages, **kw))  # type: ignore[arg-type]
    return path


def report(
    name: str, dob: str, mrn: str, title: str, body: str = "Findings are described below."
) -> list[list[str]]:
    """A one-page hospital report header as a fixture."""
    return [
        [
            "Riverbend General Hospital (fictional)",
            title,
            f"Patient: {name}    DOB: {dob}    MRN: {mrn}",
            "",
            body,
        ]
    ]


def case_head(case_id: str, patient: str, dob: str = "1970-05-06") -> str:
    """The start of a minimal adult-general case file (fictional patient), up to and
    including ``records:``; the caller appends one record per line."""
    return f"""schema_version: 1
case_id: {case_id}
profile: adult-general
patient: {{name: {patient}, date_of_birth: {dob}, phone: 555-0100}}
care_team:
  treating_oncologist: {{name: Dr. Omar Fictus, phone: 555-0101}}
diagnosis:
  cancer_type: Lung adenocarcinoma
  date: 2026-06-02
  symptoms: [{{description: cough}}]
treatment: {{plan: chemotherapy}}
medications: none
records:
"""


def outline_rows(reader: Any) -> list[tuple[int, str, int]]:
    """A pypdf reader's bookmarks, depth-first, as (depth, title, 1-based page)."""
    rows: list[tuple[int, str, int]] = []

    def walk(items: list[Any], depth: int) -> None:
        for item in items:
            if isinstance(item, list):
                walk(item, depth + 1)
            else:
                rows.append((depth, item.title, reader.get_destination_page_number(item) + 1))

    walk(reader.outline, 0)
    return rows


def lzw_zero_runs(cycles: int) -> bytes:
    """LZW codes for runs of zeros, each code one zero longer than the one before (7.4 MB
    from 5.5 KB), the table cleared and the run repeated ``cycles`` times: an LZW bomb,
    which qpdf has no limit for."""
    out = bytearray()
    bits = held = 0

    def put(code: int, width: int) -> None:
        nonlocal bits, held
        bits, held = (bits << width) | code, held + width
        while held >= 8:
            held -= 8
            out.append((bits >> held) & 0xFF)
        bits &= (1 << held) - 1

    width = 9
    for _ in range(cycles):
        put(256, width)  # clear
        width, size = 9, 258
        put(0, width)
        for code in range(258, 4096):  # each the entry the decoder is about to add
            put(code, width)
            size += 1
            if width < 12 and size + 1 >= 1 << width:  # /EarlyChange 1
                width += 1
    put(257, width)  # end of data
    if held:
        out.append((bits << (8 - held)) & 0xFF)
    return bytes(out)

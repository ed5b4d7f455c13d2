"""Page text for the identity check: PDFium (pypdfium2) reads it, pypdf when PDFium cannot.

These tests fail when text extraction breaks: a typed record's text must name the patient,
an encrypted record's text must be read with its password, and hostile content must never
reach PDFium before the module's bounded decoder has decoded it.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from opinionkit.inspect import pdf as pdf_mod
from opinionkit.inspect.identity import Identity, fold, record_evidence, text_evidence
from opinionkit.inspect.limits import Limits, run_limited
from opinionkit.inspect.pdf import inspect_pdf
from pdfgen import case_head, lzw_zero_runs, report, serialize, write_text_pdf

ADA = Identity("Ada Maria Testperson", date(1970, 5, 6), ("00123",))
HEADER = report("Ada Testperson", "1970-05-06", "00123", "CT chest report")


def _encrypted(path: Path, password: str, algorithm: str) -> Path:
    writer = PdfWriter(clone_from=PdfReader(write_text_pdf(path, HEADER[0:1] * 2)))
    writer.encrypt(user_password=password, owner_password="owner-pw", algorithm=algorithm)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def _verdicts(texts: list[str]) -> list[str]:
    return [e.verdict for e in record_evidence(texts, ADA)]


def test_a_typed_record_names_the_patient(tmp_path: Path) -> None:
    path = write_text_pdf(tmp_path / "r.pdf", [*HEADER, ["Page two: no identifiers here."]])
    info = inspect_pdf(path)
    assert info.opened and info.pages == 2 and info.text_checked == 2 and info.text_pages == 2
    assert "Ada Testperson" in info.page_texts[0]
    assert _verdicts(info.page_texts) == ["match", "none"]


def test_pdfium_text_is_normalised_like_pypdf(tmp_path: Path) -> None:
    # PDFium writes "\r\n" and marks an end-of-line hyphen with U+FFFE; pypdf writes "-\n".
    path = write_text_pdf(tmp_path / "h.pdf", [["Patient: Ada Testper-", "son  DOB: 06/05/1970"]])
    (text,) = pdf_mod._inspect(str(path), None, 30.0).page_texts
    assert "\r" not in text and "\ufffe" not in text
    pypdf_text = PdfReader(path).pages[0].extract_text()
    assert (
        fold(text).strip()
        == fold(pypdf_text).strip()
        == "patient: ada testper- son dob: 06/05/1970"
    )
    assert text_evidence(text, ADA).verdict == "match"


def test_fold_treats_pdfium_and_pypdf_spacing_alike() -> None:
    assert fold("Zo\u00eb\u00a0\u00dcnal\r\n\ufb01le\x0cX") == "zoe unal file x"


@pytest.mark.parametrize("algorithm", ["AES-256", "AES-256-R5", "AES-128", "RC4-128", "RC4-40"])
def test_an_encrypted_record_is_read_with_its_password(tmp_path: Path, algorithm: str) -> None:
    path = _encrypted(tmp_path / "enc.pdf", "s3cret", algorithm)
    # PDFium itself opens it (the fast path), not only the pypdf fallback
    doc = pdf_mod._open_pdfium(str(path), "s3cret", True, 2)
    assert doc is not None
    doc.close()
    info = inspect_pdf(path, "s3cret")
    assert info.encrypted and info.needs_password and info.password_ok
    assert info.text_pages == 2 and _verdicts(info.page_texts) == ["match", "match"]
    assert not inspect_pdf(path, "wrong").page_texts


def test_a_saslprep_password_opens_in_pdfium() -> None:
    # AES-256 passwords are SASLprep-processed; PDFium expects the processed form.
    assert pdf_mod._saslprep("S\u00aaSL\u00adprep") == "SaSLprep"
    assert pdf_mod._saslprep("plain") == "plain"


def test_text_falls_back_to_pypdf_when_pdfium_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_text_pdf(tmp_path / "r.pdf", HEADER)

    def refuse(*_: Any, **__: Any) -> Any:
        raise RuntimeError("patient bytes")

    monkeypatch.setattr(pdf_mod.pypdfium2, "PdfDocument", refuse)
    info = pdf_mod._inspect(str(path), None, 30.0)
    assert info.text_pages == 1 and _verdicts(info.page_texts) == ["match"]


def test_text_falls_back_to_pypdf_per_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_text_pdf(tmp_path / "r.pdf", HEADER)
    monkeypatch.setattr(pdf_mod, "_pdfium_text", lambda doc, index: None)
    info = pdf_mod._inspect(str(path), None, 30.0)
    assert info.text_pages == 1 and not info.bad_pages and _verdicts(info.page_texts) == ["match"]


def _nested_flate(mb: int) -> bytes:
    once = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    data = b"".join(once.compress(chunk) for _ in range(mb)) + once.flush()
    return zlib.compress(data, 9)


def _bomb_pdf(where: str) -> bytes:
    """A page with a font whose content stream (or a Form XObject it draws) is a 300 MB
    nested-Flate bomb: the bounded decoder stops at its limit, PDFium would decode it all."""
    bomb = _nested_flate(300)
    text = b"BT /F1 11 Tf 72 720 Td (Patient: Ada Testperson) Tj ET"
    page_content, form_content = (bomb, text) if where == "content" else (text + b" /X1 Do", bomb)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
        b"/Resources << /Font << /F1 3 0 R >> /XObject << /X1 6 0 R >> >> >>",
    ]
    filters = b"[/FlateDecode /FlateDecode]"
    streams = [
        (page_content, filters if where == "content" else None),
        (form_content, filters if where == "form" else None),
    ]
    for data, filt in streams:
        head = b"<< /Length %d" % len(data) + (b" /Filter " + filt if filt else b"")
        if len(objects) == 5:  # object 6: the form the page draws
            head += b" /Type /XObject /Subtype /Form /BBox [0 0 612 792]"
            head += b" /Resources << /Font << /F1 3 0 R >> >>"
        objects.append(head + b" >>\nstream\n" + data + b"\nendstream")
    return serialize(objects)


@pytest.mark.parametrize("where", ["content", "form"])
def test_a_decompression_bomb_never_reaches_pdfium(tmp_path: Path, where: str) -> None:
    path = tmp_path / "bomb.pdf"
    path.write_bytes(_bomb_pdf(where))
    # run_limited, not inspect_pdf: no retry with pypdf would hide PDFium decoding the bomb
    # (256 MB cannot hold it); the bounded decoder judges the page first.
    limits = Limits(seconds=30, memory_mb=256)
    info = run_limited(pdf_mod._inspect, str(path), None, 30.0, limits=limits)
    assert info.opened and info.pages == 1
    if where == "content":
        assert info.bad_pages == [1] and info.page_texts == [""]
    else:  # pypdf reads the page's own text and skips the form it cannot decode
        assert not info.bad_pages and _verdicts(info.page_texts) == ["match"]


def test_pdfium_running_out_of_memory_is_retried_with_pypdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_text_pdf(tmp_path / "r.pdf", HEADER)
    real = pdf_mod.pypdfium2.PdfDocument

    def greedy(*args: Any, **kw: Any) -> Any:
        _ = bytearray(1 << 30)  # the child is capped far below this
        return real(*args, **kw)

    # children are forked, so they see the patched module
    monkeypatch.setattr(pdf_mod.pypdfium2, "PdfDocument", greedy)
    limits = Limits(seconds=30, memory_mb=256)
    info = inspect_pdf(path, limits=limits)
    assert _verdicts(info.page_texts) == ["match"]


def test_a_facility_mrn_learned_on_one_page_is_accepted_on_the_others() -> None:
    pages = ["Patient: Ada Testperson  MRN: 55555", "MRN: 55555  page 2"]
    assert _verdicts(pages) == ["match", "match"]
    assert _verdicts(pages[1:]) == ["mismatch"]
    assert text_evidence(pages[1], ADA).verdict == "mismatch"


CASE = case_head("TEXT-1", "Ada Maria Testperson") + (
    "  - {kind: imaging-report, title: CT chest, date: 2026-06-01, file: ct.pdf}\n"
    "  - {kind: lab-report, title: Labs, date: 2026-06-01, file: labs.pdf}\n"
    "  - {kind: consultation-letter, title: Letter, date: 2026-06-01, file: other.pdf}\n"
)


def _identity_codes(tmp_path: Path) -> dict[str, set[str]]:
    from opinionkit.check import CheckOptions, check_case

    (tmp_path / "case.yaml").write_text(CASE, encoding="utf-8")
    write_text_pdf(tmp_path / "ct.pdf", HEADER)
    write_text_pdf(tmp_path / "labs.pdf", [["Haemoglobin 13.1 g/dL"]])
    write_text_pdf(
        tmp_path / "other.pdf", report("Bruno Otherman", "1958-12-11", "77881", "Letter")
    )
    options = CheckOptions(today=date(2026, 11, 24), limits=Limits(seconds=30, memory_mb=256))
    result = check_case(tmp_path / "case.yaml", options)
    codes: dict[str, set[str]] = {"ct.pdf": set(), "labs.pdf": set(), "other.pdf": set()}
    for f in result.findings:
        if f.path in codes and (f.code.startswith("identity.") or f.code.startswith("pdf.")):
            codes[f.path].add(f.code)
    return codes


WANT = {"ct.pdf": set(), "labs.pdf": {"identity.not-found"}, "other.pdf": {"identity.mismatch"}}


def test_check_reads_each_records_text(tmp_path: Path) -> None:
    assert _identity_codes(tmp_path) == WANT


def test_check_retries_with_pypdf_when_pdfium_runs_out_of_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pdf_mod.pypdfium2.PdfDocument

    def greedy(*args: Any, **kw: Any) -> Any:
        _ = bytearray(1 << 30)
        return real(*args, **kw)

    monkeypatch.setattr(pdf_mod.pypdfium2, "PdfDocument", greedy)
    assert _identity_codes(tmp_path) == WANT  # no pdf.limit: the prefetch retried


def test_the_fast_path_does_not_import_pypdf(tmp_path: Path) -> None:
    # pypdf costs start-up time in every worker; it is only a fallback now
    path = write_text_pdf(tmp_path / "r.pdf", HEADER)
    code = (
        "import sys\n"
        "from opinionkit.inspect import pdf\n"
        "assert 'pypdf' not in sys.modules\n"
        f"info = pdf._inspect({str(path)!r}, None, 30.0)\n"
        "assert info.text_pages == 1, info\n"
        "assert 'pypdf' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(("cycles", "bad"), [(1, False), (41, True)])
def test_an_lzw_bomb_is_a_bad_page_within_a_memory_cap(
    tmp_path: Path, cycles: int, bad: bool
) -> None:
    data = lzw_zero_runs(cycles)
    path = tmp_path / "lzw.pdf"
    path.write_bytes(
        serialize(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                b"/Resources << >> >>",
                b"<< /Length %d /Filter /LZWDecode >>\nstream\n" % len(data)
                + data
                + b"\nendstream",
            ]
        )
    )
    if not bad:  # 7.4 MB decodes: the decoder follows the code widths up to 12 bits
        assert sum(map(len, pdf_mod._FILTERS["/LZWDecode"]([data], None))) == 3839 * 3840 // 2
    # 300 MB is over the limit, and found so without holding it
    limits = Limits(seconds=30, memory_mb=128)
    info = run_limited(pdf_mod._inspect, str(path), None, 30.0, limits=limits)
    assert info.opened and info.pages == 1 and info.text_checked == 1
    assert info.bad_pages == ([1] if bad else [])


def test_a_page_whose_content_is_missing_is_a_bad_page(tmp_path: Path) -> None:
    # /Contents names an object the file does not hold: the page's content is lost
    path = tmp_path / "lost.pdf"
    path.write_bytes(
        serialize(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 9 0 R "
                b"/Resources << >> >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> >>",
            ]
        )
    )
    info = pdf_mod._inspect(str(path), None, 30.0)
    assert info.opened and info.pages == 2 and info.bad_pages == [1]


def test_content_damaged_midway_is_read_as_far_as_it_goes_and_reported(tmp_path: Path) -> None:
    lines = b"".join(
        b"BT /F1 11 Tf 72 %d Td (Patient: Ada Testperson line %d) Tj ET\n" % (700 - 12 * i, i)
        for i in range(50)
    )
    data = bytearray(zlib.compress(lines, 9))
    data[len(data) // 2] ^= 0xFF  # corrupt from the middle on
    data[len(data) // 2 + 1] ^= 0x55
    path = tmp_path / "damaged.pdf"
    path.write_bytes(
        serialize(
            [
                b"<< /Type /Catalog /Pages 2 0 R >>",
                b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R "
                b"/Resources << /Font << /F1 3 0 R >> >> >>",
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data)
                + bytes(data)
                + b"\nendstream",
            ]
        )
    )
    info = pdf_mod._inspect(str(path), None, 30.0)
    assert info.bad_pages == [1]
    (text,) = info.page_texts
    assert "line 0" in text and "line 49" not in text
    assert _verdicts(info.page_texts) == ["match"]


def test_run_length_content_decodes_through_pypdfs_bounded_decoder() -> None:
    decode = pdf_mod._FILTERS["/RunLengthDecode"]
    # a literal run of 2 bytes, then "z" repeated 128 times (257 - 129), then end of data
    data = b"\x01BT" + b"\x81z" + b"\x80"
    assert b"".join(decode([data], None)) == b"BT" + b"z" * 128


def test_repair_notes_stay_out_of_the_inspection_repr(tmp_path: Path) -> None:
    # A damaged file: every cross-reference offset is wrong, so qpdf rebuilds the table
    # and says so. Its warnings can quote the file's bytes; repr() (what a log of the
    # result would show) must not carry them, as it does not carry the page texts.
    data = write_text_pdf(tmp_path / "ok.pdf", [["Patient: Zelda Quint"]]).read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data.replace(b" 00000 n ", b" 00007 n "))
    info = pdf_mod._inspect(str(broken), None, 30.0)
    assert info.opened and info.repaired and info.repair_notes
    assert "Zelda" in info.page_texts[0]
    shown = repr(info)
    assert "Zelda" not in shown
    assert not any(note in shown for note in info.repair_notes)

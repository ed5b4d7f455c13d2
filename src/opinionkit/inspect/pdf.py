"""Open a PDF with pypdf, in a bounded child process, and say what it holds.

pypdf opens and decrypts the file and judges its structure (encryption, repairs, features,
page count, pages whose content cannot be decoded); the page texts for the identity check
come from PDFium (pypdfium2), about ten times faster than pypdf's ``extract_text``. pypdf
extracts the text of a file (or page) PDFium cannot read, e.g. an R6 file that opens with
an empty owner password. A page's content streams are decoded with pypdf first (bounded by
its decompression limits) and only then handed to PDFium, which has no such limits.

Nothing from the file's content leaves this module except page counts, flags and the
page texts used for the identity check (never printed). Exceptions are reported by
class name only, since a library's message may quote bytes of the file.
"""

from __future__ import annotations

import contextlib
import logging
import stringprep
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pikepdf

# Imported here, not in the child: forked children inherit the loaded modules.
# pypdfium2 ships no type information (no py.typed marker).
import pypdfium2  # type: ignore[import-untyped]
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError
from pypdf.generic import IndirectObject

from opinionkit.errors import LimitExceeded
from opinionkit.inspect.limits import Limits, run_limited

PDFIUM = "pdfium"
PYPDF = "pypdf"
"""Text engines for :func:`_inspect`: PDFium (fast), or pypdf alone (the fallback)."""

MAX_TEXT_PAGES = 2000
"""Pages whose text is extracted for the identity check; later pages are not read."""


@dataclass
class PdfInfo:
    opened: bool = False
    pages: int = 0
    encrypted: bool = False
    needs_password: bool = False
    password_ok: bool = False
    encryption: str | None = None
    """e.g. "AES-256 (R6)", "RC4-40 (R2)"."""
    repaired: bool = False
    repair_notes: list[str] = field(default_factory=list)
    error: str | None = None
    """Exception class name when the PDF could not be opened."""
    limit: str | None = None
    """Set when pypdf stopped at one of its own limits (e.g. a decompression bomb)."""
    page_texts: list[str] = field(default_factory=list, repr=False)
    text_pages: int = 0
    """Pages with some extractable text."""
    text_checked: int = 0
    """Pages whose text was looked at (at most :data:`MAX_TEXT_PAGES`, and within time)."""
    bad_pages: list[int] = field(default_factory=list)
    """1-based pages whose content could not be decoded (damaged, or over pypdf's limits)."""
    has_attachments: bool = False
    has_signatures: bool = False
    has_forms: bool = False
    has_javascript: bool = False


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(record.getMessage()[:200])


def _encryption_name(reader: Any) -> str | None:
    try:
        enc = reader.trailer["/Encrypt"].get_object()
        v = int(enc.get("/V", 0))
        r = int(enc.get("/R", 0))
        length = int(enc.get("/Length", 40))
    except Exception:
        return None
    if v >= 5 or r >= 5:
        return f"AES-256 (R{r})"
    if v == 4:
        try:
            cfm = str(enc["/CF"]["/StdCF"]["/CFM"])
        except Exception:
            cfm = ""
        return f"AES-128 (R{r})" if cfm == "/AESV2" else f"RC4-128 (R{r})"
    return f"RC4-{length} (R{r})"


def _features(reader: Any, info: PdfInfo) -> None:
    root = reader.trailer["/Root"].get_object()
    names = root.get("/Names")
    names = names.get_object() if names is not None else {}
    info.has_attachments = "/EmbeddedFiles" in names
    info.has_javascript = "/JavaScript" in names or (
        "/OpenAction" in root and "/JS" in str(root.get("/OpenAction"))
    )
    acro = root.get("/AcroForm")
    if acro is not None:
        acro = acro.get_object()
        fields = acro.get("/Fields") or []
        info.has_forms = len(fields) > 0
        info.has_signatures = int(acro.get("/SigFlags", 0)) & 1 == 1


def _subtype(ref: Any, peek: Any) -> Any:
    """The ``/Subtype`` of an XObject. pypdf reads a stream's data whenever it loads the
    object (a scan's whole image, just to learn it is an image); ``peek`` (the same file
    opened with pikepdf, or None) reads only the stream's dictionary."""
    if peek is not None and isinstance(ref, IndirectObject):
        try:
            obj = peek.get_object(ref.idnum, ref.generation)
            if isinstance(obj, pikepdf.Stream):
                subtype = obj.get("/Subtype")
                return None if subtype is None else str(subtype)
        except Exception:
            pass
    return ref.get_object().get("/Subtype")


def _has_fonts(page: Any, depth: int = 0, peek: Any = None) -> bool:
    """Whether the page (or a form it draws, two levels deep) declares a font."""
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        if not resources:
            return False
        if resources.get("/Font"):
            return True
        if depth >= 2:
            return False
        xobjects = resources.get("/XObject")
        for ref in (xobjects.get_object() if xobjects is not None else {}).values():
            if _subtype(ref, peek) == "/Form" and _has_fonts(ref.get_object(), depth + 1, peek):
                return True
    except Exception:
        return True  # when in doubt, extract
    return False


def _content_decodes(page: Any) -> bool:
    """pypdf's text extraction swallows decoding errors; decode an empty page's content
    (bounded by pypdf's own decompression limits) to tell "blank or scanned" from "broken"."""
    try:
        contents = page.get_contents()
        if contents is not None:
            contents.get_data()
    except Exception:
        return False
    return True


def _forms_decode(page: Any, depth: int = 0, peek: Any = None) -> bool:
    """Whether the Form XObjects a page draws (two levels deep, like :func:`_has_fonts`)
    decode within pypdf's limits: PDFium reads them too, without limits of its own."""
    try:
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else None
        xobjects = resources.get("/XObject") if resources else None
        for ref in (xobjects.get_object() if xobjects is not None else {}).values():
            if _subtype(ref, peek) == "/Form":
                xo = ref.get_object()
                xo.get_data()
                if depth < 2 and not _forms_decode(xo, depth + 1, peek):
                    return False
    except Exception:
        return False
    return True


def _saslprep(password: str) -> str:
    """RFC 4013 SASLprep, as AES-256 (R6) passwords are processed before hashing: pypdf
    does it, PDFium does not (so "S\u00aaSL\u00adprep" opens only as "SaSLprep")."""
    mapped = "".join(
        "" if stringprep.in_table_b1(c) else " " if stringprep.in_table_c12(c) else c
        for c in password
    )
    return unicodedata.normalize("NFKC", mapped)


def _open_pdfium(path: str, password: str | None, needs_password: bool, pages: int) -> Any:
    """The PDFium document, or None when PDFium cannot open the file as pypdf did (with
    the same page count): then pypdf extracts the text."""
    tries: list[str | None] = [] if needs_password else [None]
    if password is not None:
        tries.extend(dict.fromkeys([password, _saslprep(password)]))
    for attempt in tries:
        try:
            doc = pypdfium2.PdfDocument(path, password=attempt)
        except Exception:
            continue
        try:
            if len(doc) == pages:
                return doc
        except Exception:
            pass
        doc.close()
        return None
    return None


def _pdfium_text(doc: Any, index: int) -> str | None:
    """Page ``index``'s text from PDFium, with line breaks as pypdf writes them (None when
    PDFium cannot load the page)."""
    page = textpage = None
    try:
        page = doc[index]
        textpage = page.get_textpage()
        text: str = textpage.get_text_range()
    except Exception:
        return None
    finally:
        if textpage is not None:
            textpage.close()
        if page is not None:
            page.close()
    # PDFium ends lines with "\r\n" and marks a word hyphenated at the end of a line
    # with U+FFFE in place of the hyphen and the line break; pypdf writes "-\n" there.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufffe", "-\n")


def _page_text(page: Any, number: int, doc: Any, peek: Any = None) -> tuple[str, bool]:
    """(text, whether the page's content cannot be decoded) for one page."""
    # A page without any font (a scan) has no text to extract; skip the parser.
    if not _has_fonts(page, peek=peek):
        return "", not _content_decodes(page)
    if doc is not None:
        if not _content_decodes(page):
            return "", True
        if _forms_decode(page, peek=peek):
            text = _pdfium_text(doc, number - 1)
            if text is not None:
                return text, False
    try:
        text = page.extract_text() or ""
    except Exception:
        return "", True
    return text, not text.strip() and not _content_decodes(page)


def _inspect(path: str, password: str | None, seconds: float, engine: str = PDFIUM) -> PdfInfo:
    """Inspect one PDF (runs in the bounded child). ``engine`` is :data:`PDFIUM`, or
    :data:`PYPDF` to read the text with pypdf alone (the retry after PDFium ran out of
    memory)."""
    started = time.monotonic()
    try:
        # pypdf reads a file it is given by name whole into memory; from an open file it
        # reads only the objects it needs (a scan's image data is never read).
        with open(path, "rb") as fh:
            return _inspect_open(fh, path, password, seconds, engine, started)
    except OSError as e:  # only the open: _inspect_open reports its own errors as data
        return PdfInfo(error=type(e).__name__)


def _inspect_open(
    fh: BinaryIO, path: str, password: str | None, seconds: float, engine: str, started: float
) -> PdfInfo:
    info = PdfInfo()
    collect = _Collect()
    log = logging.getLogger("pypdf")
    log.addHandler(collect)
    log.propagate = False
    warnings.simplefilter("ignore")
    try:
        reader = PdfReader(fh, strict=False)
        if reader.is_encrypted:
            info.encrypted = True
            info.encryption = _encryption_name(reader)
            if reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                info.needs_password = True
                if password is not None:
                    info.password_ok = reader.decrypt(password) != PasswordType.NOT_DECRYPTED
                if not info.password_ok:
                    return info
            else:
                info.password_ok = True
        info.pages = len(reader.pages)
        info.opened = True
    except LimitReachedError:
        info.limit = "decompression"
        return info
    except Exception as e:
        info.error = type(e).__name__
        return info
    finally:
        # A header after leading junk is reported on its own (pdf.leading-junk).
        info.repair_notes = [n for n in collect.notes if not n.startswith("invalid pdf header")]
        info.repaired = bool(info.repair_notes)
    with contextlib.suppress(Exception):  # features are best-effort
        _features(reader, info)
    deadline = started + seconds * 0.7
    doc = None
    if engine == PDFIUM and info.pages:
        doc = _open_pdfium(
            path, password if info.encrypted else None, info.needs_password, info.pages
        )
    peek = _open_peek(path, password if info.encrypted else None)
    try:
        for number, page in enumerate(reader.pages[:MAX_TEXT_PAGES], start=1):
            if time.monotonic() > deadline:
                break
            text, bad = _page_text(page, number, doc, peek)
            if bad:
                info.bad_pages.append(number)
            info.text_checked += 1
            info.page_texts.append(text)
            if text.strip():
                info.text_pages += 1
    finally:
        if doc is not None:
            doc.close()
        if peek is not None:
            peek.close()
    return info


def _open_peek(path: str, password: str | None) -> Any:
    """The file opened with pikepdf to look at stream dictionaries (None if it cannot)."""
    try:
        return pikepdf.Pdf.open(
            path, password=password or "", access_mode=pikepdf.AccessMode.stream
        )
    except Exception:
        return None


def inspect_pdf(
    path: Path, password: str | None = None, *, limits: Limits | None = None
) -> PdfInfo:
    """Inspect one PDF within ``limits``. Raises :class:`LimitExceeded` on time or memory."""
    limits = limits or Limits()
    try:
        return run_limited(_inspect, str(path), password, limits.seconds, limits=limits)
    except LimitExceeded as e:
        if e.what != "memory":
            raise
        return inspect_pdf_without_pdfium(path, password, limits=limits)
    except RuntimeError as e:
        return PdfInfo(error=str(e))


def inspect_pdf_without_pdfium(path: Path, password: str | None, *, limits: Limits) -> PdfInfo:
    """Inspect one PDF reading its text with pypdf alone: what follows a PDFium read that
    ran out of memory (PDFium has no decompression limits of its own; pypdf has)."""
    try:
        return run_limited(_inspect, str(path), password, limits.seconds, PYPDF, limits=limits)
    except RuntimeError as e:
        return PdfInfo(error=str(e))

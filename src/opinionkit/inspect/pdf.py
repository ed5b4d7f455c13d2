"""Open a PDF with pypdf, in a bounded child process, and say what it holds.

Nothing from the file's content leaves this module except page counts, flags and the
page texts used for the identity check (never printed). Exceptions are reported by
class name only, since a library's message may quote bytes of the file.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported here, not in the child: forked children inherit the loaded modules.
from pypdf import PasswordType, PdfReader
from pypdf.errors import LimitReachedError

from opinionkit.errors import LimitExceeded
from opinionkit.inspect.limits import Limits, run_limited

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


def _has_fonts(page: Any, depth: int = 0) -> bool:
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
            xo = ref.get_object()
            if xo.get("/Subtype") == "/Form" and _has_fonts(xo, depth + 1):
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


def _inspect(path: str, password: str | None, seconds: float) -> PdfInfo:

    started = time.monotonic()
    info = PdfInfo()
    collect = _Collect()
    log = logging.getLogger("pypdf")
    log.addHandler(collect)
    log.propagate = False
    warnings.simplefilter("ignore")
    try:
        reader = PdfReader(path, strict=False)
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
    for number, page in enumerate(reader.pages[:MAX_TEXT_PAGES], start=1):
        if time.monotonic() > deadline:
            break
        try:
            # A page without any font (a scan) has no text to extract; skip the parser.
            text = page.extract_text() or "" if _has_fonts(page) else ""
        except Exception:
            text = ""
            info.bad_pages.append(number)
        else:
            if not text.strip() and not _content_decodes(page):
                info.bad_pages.append(number)
        info.text_checked += 1
        info.page_texts.append(text)
        if text.strip():
            info.text_pages += 1
    return info


def inspect_pdf(
    path: Path, password: str | None = None, *, limits: Limits | None = None
) -> PdfInfo:
    """Inspect one PDF within ``limits``. Raises :class:`LimitExceeded` on time or memory."""
    limits = limits or Limits()
    try:
        return run_limited(_inspect, str(path), password, limits.seconds, limits=limits)
    except RuntimeError as e:
        return PdfInfo(error=str(e))
    except LimitExceeded:
        raise

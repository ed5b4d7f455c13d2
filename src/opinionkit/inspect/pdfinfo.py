"""What :mod:`opinionkit.inspect.pdf` learns of a PDF, and its engines' names: the part
``check`` needs in its own process, apart from the readers (qpdf, PDFium), which load only
where files are read (:func:`opinionkit.checks.files.warm`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MAX_TEXT_PAGES", "PDFIUM", "PYPDF", "PdfInfo"]

PDFIUM = "pdfium"
PYPDF = "pypdf"
"""Text engines for :func:`opinionkit.inspect.pdf._inspect`: PDFium (fast), or pypdf alone (the fallback)."""

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
    repair_notes: list[str] = field(default_factory=list, repr=False)
    """The reader's warnings about the damage (kept out of ``repr``, as the page texts
    are: a warning can quote bytes of the file, such as a name in a broken object)."""
    error: str | None = None
    """Exception class name when the PDF could not be opened."""
    limit: str | None = None
    """Set when reading stopped at one of the decoders' limits (e.g. a decompression bomb)."""
    page_texts: list[str] = field(default_factory=list, repr=False)
    text_pages: int = 0
    """Pages with some extractable text."""
    text_checked: int = 0
    """Pages whose text was looked at (at most :data:`MAX_TEXT_PAGES`, and within time)."""
    bad_pages: list[int] = field(default_factory=list)
    """1-based pages whose content could not be decoded (damaged, or over the limits)."""
    has_attachments: bool = False
    has_signatures: bool = False
    has_forms: bool = False
    has_javascript: bool = False

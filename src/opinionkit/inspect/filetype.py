"""What a file really is, judged by its first bytes (never by its name)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

HEAD_BYTES = 4096
"""How far into the file to look; a PDF header may sit after junk from a mail gateway
(readers accept it within the first 1024 bytes; we allow a little more)."""


def file_sha256(path: Path | str) -> str:
    """The SHA-256 (hex) of a file's bytes, read in chunks (never whole into memory)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class FileKind(str, Enum):
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"
    TIFF = "tiff"
    DICOM = "dicom"
    EMPTY = "empty"
    HTML = "html"
    ZIP = "zip"
    UNKNOWN = "unknown"


EXTENSIONS: dict[FileKind, tuple[str, ...]] = {
    FileKind.PDF: (".pdf",),
    FileKind.JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"),
    FileKind.PNG: (".png",),
    FileKind.TIFF: (".tif", ".tiff"),
    FileKind.DICOM: (".dcm", ".dicom", ""),
}


@dataclass(frozen=True)
class Sniffed:
    kind: FileKind
    leading_junk: int = 0
    """Bytes before the ``%PDF-`` header (0 for a well-formed file)."""
    size: int = 0


def sniff_bytes(head: bytes, size: int | None = None) -> Sniffed:
    n = len(head) if size is None else size
    if n == 0:
        return Sniffed(FileKind.EMPTY, 0, 0)
    if head.startswith(b"%PDF-"):
        return Sniffed(FileKind.PDF, 0, n)
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed(FileKind.JPEG, 0, n)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed(FileKind.PNG, 0, n)
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return Sniffed(FileKind.TIFF, 0, n)
    if len(head) >= 132 and head[128:132] == b"DICM":
        return Sniffed(FileKind.DICOM, 0, n)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Sniffed(FileKind.ZIP, 0, n)
    lowered = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")):
        return Sniffed(FileKind.HTML, 0, n)
    at = head.find(b"%PDF-", 0, HEAD_BYTES)
    if at > 0:
        return Sniffed(FileKind.PDF, at, n)
    return Sniffed(FileKind.UNKNOWN, 0, n)


def sniff(path: Path) -> Sniffed:
    """Read the first few KiB of ``path`` and say what it is. The caller has already
    made sure ``path`` is a regular file (so this cannot block on a FIFO)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        fh.seek(0, 2)
        size = fh.tell()
    return sniff_bytes(head, size)


def extension_matches(path: Path, kind: FileKind) -> bool:
    return path.suffix.lower() in EXTENSIONS.get(kind, ())

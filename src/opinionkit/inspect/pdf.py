"""Open a PDF with qpdf (pikepdf), in a bounded child process, and say what it holds.

qpdf opens and decrypts the file and judges its structure (encryption, repairs, features,
page count); the page texts for the identity check come from PDFium (pypdfium2), which
reads the file itself or, when it cannot (a damaged file qpdf repairs, an R6 file that
opens with an empty owner password), qpdf's repaired and decrypted copy of it. A page's
content streams, and the Form XObjects it draws, are decoded here first by a streaming
decoder bounded at :data:`MAX_DECODED_BYTES` (qpdf has no decompression limits by
default, PDFium none at all), and only then handed to PDFium.

pypdf is imported only on rare paths, never for an ordinary file: it reads the text of a
page that draws a form too large to decode (skipping the form) or that PDFium cannot
read, the text after PDFium ran out of memory (:func:`inspect_pdf_without_pdfium`), and
it judges a file qpdf cannot open at all (or finds no pages in), as it did before.

Nothing from the file's content leaves this module except page counts, flags and the
page texts used for the identity check (never printed). Exceptions are reported by
class name only, since a library's message may quote bytes of the file; qpdf's warnings
are counted (``repaired``), never logged.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import stringprep
import time
import unicodedata
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pikepdf

# Imported here, not in the child: forked children inherit the loaded modules.
# pypdfium2 ships no type information (no py.typed marker).
import pypdfium2  # type: ignore[import-untyped]

from opinionkit.errors import LimitExceeded
from opinionkit.inspect.limits import Limits, run_limited
from opinionkit.inspect.pdfinfo import MAX_TEXT_PAGES, PDFIUM, PYPDF, PdfInfo

MAX_DECODED_BYTES = 75_000_000
"""What one stream may decode to (pypdf's limit), and all content streams of a page, and
all forms it draws: a page over it is not handed to PDFium."""

_QPDF_LIMITS = {
    "flate_max_memory": MAX_DECODED_BYTES,
    "run_length_max_memory": MAX_DECODED_BYTES,
    "png_max_memory": MAX_DECODED_BYTES,
    "tiff_max_memory": MAX_DECODED_BYTES,
}
"""qpdf's own decoding (object and cross-reference streams) is bounded the same way."""

_BENIGN_WARNINGS = ("invalid /ID in trailer dictionary", "Resources is missing or invalid")
"""qpdf warnings that say nothing about damage to pages (pypdf does not remark on them): an
encrypted file without a document ID decrypts as well; a page without resources (a blank
page, from many producers) is given empty ones."""


# ------------------------------------------------------------------ structure (either library)


def _encryption_name(enc: Any) -> str | None:
    """The name of an ``/Encrypt`` dictionary (pikepdf's or pypdf's)."""
    try:
        v = int(enc["/V"]) if "/V" in enc else 0
        r = int(enc["/R"]) if "/R" in enc else 0
        length = int(enc["/Length"]) if "/Length" in enc else 40
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


def _dict(obj: Any, key: str) -> Any:
    """``obj[key]`` if it is a dictionary, else an empty one: ``obj[key]`` resolves a
    reference in pikepdf and pypdf alike (pypdf's ``get`` does not); pypdf's dictionaries
    are dicts."""
    value = obj[key] if key in obj else None  # noqa: SIM401 - not pypdf's get
    return value if isinstance(value, (dict, pikepdf.Dictionary)) else {}


def _features(root: Any, info: PdfInfo) -> None:
    """Attachments, scripts, forms, signatures, from the catalog (pikepdf's or pypdf's)."""
    names = _dict(root, "/Names")
    info.has_attachments = "/EmbeddedFiles" in names
    info.has_javascript = "/JavaScript" in names or "/JS" in _dict(root, "/OpenAction")
    acro = _dict(root, "/AcroForm")
    if "/Fields" in acro:
        info.has_forms = len(acro["/Fields"]) > 0
    if "/SigFlags" in acro:
        info.has_signatures = int(acro["/SigFlags"]) & 1 == 1


def _saslprep(password: str) -> str:
    """RFC 4013 SASLprep, as AES-256 (R6) passwords are processed before hashing: pypdf
    does it, qpdf and PDFium do not (so "S\u00aaSL\u00adprep" opens only as "SaSLprep")."""
    mapped = "".join(
        "" if stringprep.in_table_b1(c) else " " if stringprep.in_table_c12(c) else c
        for c in password
    )
    return unicodedata.normalize("NFKC", mapped)


class _Unreadable(Exception):
    """qpdf made no usable document of the file."""


def _open_qpdf(path: str, password: str | None, info: PdfInfo) -> pikepdf.Pdf | None:
    """The file opened and decrypted by qpdf, or None when it needs a password that is
    not given (or wrong). Raises what qpdf raises when it cannot open the file."""
    try:
        return _qpdf(path, "")
    except pikepdf.PasswordError:
        pass
    info.encrypted = info.needs_password = True
    if password is not None:
        for attempt in dict.fromkeys([password, _saslprep(password)]):
            with contextlib.suppress(pikepdf.PasswordError):
                pdf = _qpdf(path, attempt)
                info.password_ok = True
                return pdf
    info.encryption = _locked_encryption_name(path)
    return None


def _qpdf(path: str, password: str, hex_key: bool = False) -> pikepdf.Pdf:
    # stream access, not mmap: a file truncated while it is read cannot crash the worker;
    # suppress_warnings: qpdf keeps its warnings (get_warnings) instead of logging them.
    return pikepdf.Pdf.open(
        path,
        password=password,
        hex_password=hex_key,
        access_mode=pikepdf.AccessMode.stream,
        suppress_warnings=True,
    )


def _locked_encryption_name(path: str) -> str | None:
    """The encryption of a file that does not open without its password: qpdf given an
    (empty) key instead of a password does not check it, and the ``/Encrypt`` dictionary
    itself is never encrypted."""
    try:
        with _qpdf(path, "", hex_key=True) as pdf:
            return _encryption_name(pdf.trailer["/Encrypt"])
    except Exception:
        return None


def _warnings(pdf: pikepdf.Pdf, path: str) -> list[str]:
    notes = []
    for warning in pdf.get_warnings():
        note = str(warning)
        if note.startswith(path):  # qpdf names the file first; the note is what follows
            note = note[len(path) :].lstrip(" :")
        if not any(benign in note for benign in _BENIGN_WARNINGS):
            notes.append(note[:200])
    return notes


def _ends_abruptly(path: str) -> bool:
    """No ``%%EOF`` near the end (as ``check`` tells an interrupted transfer)."""
    with open(path, "rb") as fh:
        fh.seek(0, 2)
        fh.seek(max(0, fh.tell() - 2048))
        return b"%%EOF" not in fh.read()


# ------------------------------------------------------------------ bounded stream decoding


class _Undecodable(Exception):
    """A stream that does not decode (damaged, an unknown filter, or over the limit)."""


class _Damaged(Exception):
    """A stream whose data is corrupt after a part that decodes."""


_CHUNK = 1 << 20
_SLICE = 1 << 16


def _capped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_DECODED_BYTES:
            raise _Undecodable("limit")
        yield chunk


def _joined(chunks: Iterable[bytes]) -> bytes:
    """The whole input of a filter that needs it at once (bounded: the previous stage's
    output is capped, and the raw data is the file's)."""
    return b"".join(chunks)


def _inflate(chunks: Iterable[bytes], _parms: Any) -> Iterator[bytes]:
    """FlateDecode, at most 1 MiB of output at a time. A stream cut short decodes to what
    it holds (as qpdf, pypdf and PDFium read it); one corrupt after some data is damaged
    (:class:`_Damaged`: PDFium shows what comes before), one corrupt from the start does
    not decode."""
    inflater: Any = None
    produced = False
    for chunk in chunks:
        for start in range(0, len(chunk), _SLICE):
            data = chunk[start : start + _SLICE]
            if inflater is None:  # a zlib header, or raw deflate data as some writers leave
                head = len(data) > 1 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
                inflater = zlib.decompressobj(zlib.MAX_WBITS if head else -zlib.MAX_WBITS)
            while data:
                backup = None if produced else inflater.copy()
                try:
                    out = inflater.decompress(data, _CHUNK)
                except zlib.error:
                    produced = produced or (backup is not None and _any_output(backup, data))
                    raise (_Damaged if produced else _Undecodable)("flate") from None
                produced = produced or bool(out)
                yield out
                if inflater.eof:
                    return
                data = inflater.unconsumed_tail
    if inflater is not None:
        yield inflater.flush()


def _any_output(inflater: Any, data: bytes) -> bool:
    """Whether ``data`` yields some output before its corrupt part (zlib keeps nothing of
    a call that fails, so it goes in a byte at a time)."""
    for i in range(len(data)):
        try:
            if inflater.decompress(data[i : i + 1], _CHUNK):
                return True
        except zlib.error:
            return False
    return False


_Filter = Callable[[Iterable[bytes], Any], Iterable[bytes]]


def _by_pypdf(filter_name: str) -> _Filter:
    """A filter qpdf decodes without a limit (LZW, RunLength), decoded by pypdf's decoder,
    which stops at its own output limit (75 MB). pypdf is loaded only for such a stream
    (rare: old scanners and fax software)."""

    def decode(chunks: Iterable[bytes], _parms: Any) -> Iterator[bytes]:
        from pypdf import filters
        from pypdf.errors import LimitReachedError

        try:
            yield getattr(filters, filter_name).decode(_joined(chunks))
        except LimitReachedError:
            raise _Undecodable("limit") from None
        except Exception:
            raise _Undecodable(filter_name) from None

    return decode


def _ascii_hex(chunks: Iterable[bytes], _parms: Any) -> Iterator[bytes]:
    data = b"".join(_joined(chunks).split()).split(b">", 1)[0]
    try:
        yield binascii.unhexlify(data + b"0" * (len(data) % 2))
    except (binascii.Error, ValueError):
        raise _Undecodable("hex") from None


def _ascii85(chunks: Iterable[bytes], _parms: Any) -> Iterator[bytes]:
    data = b"".join(_joined(chunks).split())
    data = data.removeprefix(b"<~").split(b"~>", 1)[0]
    try:
        yield base64.a85decode(data)
    except ValueError:
        raise _Undecodable("a85") from None


def _passed(chunks: Iterable[bytes], _parms: Any) -> Iterable[bytes]:
    return chunks  # decrypted already by qpdf (a /Crypt filter)


_FILTERS: dict[str, _Filter] = {
    "/FlateDecode": _inflate,
    "/Fl": _inflate,
    "/LZWDecode": _by_pypdf("LZWDecode"),
    "/LZW": _by_pypdf("LZWDecode"),
    "/ASCIIHexDecode": _ascii_hex,
    "/AHx": _ascii_hex,
    "/ASCII85Decode": _ascii85,
    "/A85": _ascii85,
    "/RunLengthDecode": _by_pypdf("RunLengthDecode"),
    "/RL": _by_pypdf("RunLengthDecode"),
    "/Crypt": _passed,
}
"""The filters of content streams. Predictors (``/DecodeParms``) never make data larger,
so they are not applied: only whether, and to how much, the data decodes matters here.
Image filters (DCT, JPX, CCITT, JBIG2) make no content stream."""


def _decoded_size(stream: pikepdf.Object) -> tuple[int, bool]:
    """What the stream decodes to, in bytes, decoded a chunk at a time and discarded
    (memory stays bounded whatever the stream holds), and whether it is damaged (decodes
    only in part). Raises :class:`_Undecodable`."""
    filters: Any = stream.get("/Filter")
    parms: Any = stream.get("/DecodeParms")
    if filters is None:
        filters = []
    elif not isinstance(filters, pikepdf.Array):
        filters, parms = [filters], [parms]
    if not isinstance(parms, pikepdf.Array):
        parms = [parms] * len(filters)
    chunks: Iterable[bytes] = [stream.read_raw_bytes()]
    for index, name in enumerate(filters):
        decode = _FILTERS.get(str(name))
        if decode is None:
            raise _Undecodable("filter")
        chunks = _capped(decode(chunks, parms[index] if index < len(parms) else None))
    size = 0
    try:
        for chunk in _capped(chunks):
            size += len(chunk)
    except _Damaged:
        # what precedes the damage, counted to within a chunk: PDFium decodes no more
        return size + _CHUNK, True
    return size, False


_OK, _DAMAGED, _UNDECODABLE = "ok", "damaged", "undecodable"


class _Decoder:
    """Decodes the streams of one document, each once (a letterhead form drawn on every
    page is decoded for the first)."""

    def __init__(self) -> None:
        self.sizes: dict[tuple[int, int], tuple[int, bool] | None] = {}

    def size(self, stream: pikepdf.Object) -> tuple[int, bool] | None:
        key = stream.objgen
        if key in self.sizes:
            return self.sizes[key]
        try:
            size: tuple[int, bool] | None = _decoded_size(stream)
        except Exception:  # _Undecodable, or qpdf failing to read (or decrypt) the data
            size = None
        if key != (0, 0):
            self.sizes[key] = size
        return size

    def verdict(self, streams: Iterable[pikepdf.Object]) -> str:
        """:data:`_OK` when every stream decodes, all of them together within
        :data:`MAX_DECODED_BYTES`; :data:`_DAMAGED` when some decode only in part (within
        it); else :data:`_UNDECODABLE`."""
        total, damaged = 0, False
        for stream in {s.objgen: s for s in streams}.values():
            size = self.size(stream)
            if size is None:
                return _UNDECODABLE
            total += size[0]
            damaged = damaged or size[1]
            if total > MAX_DECODED_BYTES:
                return _UNDECODABLE
        return _DAMAGED if damaged else _OK


# ------------------------------------------------------------------ pages


def _contents(page: pikepdf.Object) -> list[pikepdf.Object] | None:
    """The page's content streams (None when ``/Contents`` is neither stream nor array)."""
    contents = page.get("/Contents")
    if contents is None:
        # qpdf hides a key whose value is null, as a reference to a missing object is:
        # the page's content is lost (pypdf warned of it)
        return None if "/Contents" in page.as_dict() else []
    if isinstance(contents, pikepdf.Stream):
        return [contents]
    if isinstance(contents, pikepdf.Array):
        return [c for c in contents if isinstance(c, pikepdf.Stream)]
    return None


_FORM = pikepdf.Name("/Form")


def _forms(obj: pikepdf.Object, depth: int = 0) -> Iterator[pikepdf.Object]:
    """The Form XObjects a page (or form) draws, two levels deep."""
    resources = obj.get("/Resources")
    xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) else None
    if not isinstance(xobjects, pikepdf.Dictionary):
        return
    for _, xobject in xobjects.items():
        if isinstance(xobject, pikepdf.Stream) and xobject.get("/Subtype") == _FORM:
            yield xobject
            if depth < 2:
                yield from _forms(xobject, depth + 1)


def _has_fonts(obj: pikepdf.Object) -> bool:
    """Whether the page (or a form it draws, two levels deep) declares a font."""
    try:
        for each in (obj, *_forms(obj)):
            resources = each.get("/Resources")
            if not isinstance(resources, pikepdf.Dictionary):
                continue
            fonts = resources.get("/Font")
            if fonts is not None and (not isinstance(fonts, pikepdf.Dictionary) or len(fonts)):
                return True
    except Exception:
        return True  # when in doubt, extract
    return False


def _open_pdfium(path: str, password: str | None, needs_password: bool, pages: int) -> Any:
    """The PDFium document, or None when PDFium cannot open the file as qpdf did (with
    the same page count): then PDFium reads qpdf's copy."""
    tries: list[str | None] = [] if needs_password else [None]
    if password is not None:
        tries.extend(dict.fromkeys([password, _saslprep(password)]))
    for attempt in tries:
        try:
            doc = pypdfium2.PdfDocument(path, password=attempt)
        except Exception:
            continue
        return _with_pages(doc, pages)
    return None


def _with_pages(doc: Any, pages: int) -> Any:
    """``doc`` if PDFium sees the page count qpdf did; else it is closed and None."""
    try:
        if len(doc) == pages:
            return doc
    except Exception:
        pass
    doc.close()
    return None


def _open_pdfium_copy(pdf: pikepdf.Pdf, pages: int) -> Any:
    """PDFium reading the file as qpdf repaired and decrypted it (a copy in memory, its
    streams copied as they are, not decoded): for the files PDFium cannot open itself,
    e.g. damaged ones qpdf repairs, or an R6 file that opens with an empty owner password.
    None when that fails too: then pypdf extracts the text."""
    buffer = io.BytesIO()
    try:
        pdf.save(
            buffer,
            compress_streams=False,
            stream_decode_level=pikepdf.StreamDecodeLevel.none,
            fix_metadata_version=False,
            preserve_pdfa=False,
        )
        doc = pypdfium2.PdfDocument(buffer.getvalue())
    except Exception:
        return None
    return _with_pages(doc, pages)


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


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(record.getMessage()[:200])


@contextlib.contextmanager
def _quiet(name: str, handler: logging.Handler | None = None) -> Iterator[None]:
    """Keep a library's warnings (which may quote bytes of the file) out of every log."""
    log = logging.getLogger(name)
    saved = (log.propagate, list(log.handlers))
    log.propagate = False
    log.handlers = [handler or logging.NullHandler()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.propagate, log.handlers = saved


def _open_pypdf(fh: BinaryIO, password: str | None) -> Any:
    """pypdf's reader of the file, decrypted (raises when it cannot open it). pypdf reads
    a file it is given by name whole into memory; from an open file, only what it needs."""
    from pypdf import PasswordType, PdfReader

    reader = PdfReader(fh, strict=False)
    if (
        reader.is_encrypted
        and reader.decrypt("") == PasswordType.NOT_DECRYPTED
        and (password is None or reader.decrypt(password) == PasswordType.NOT_DECRYPTED)
    ):
        raise PermissionError("not decrypted")
    return reader


class _PypdfText:
    """pypdf's text of the pages PDFium cannot read; the file is opened on first use."""

    def __init__(self, path: str, password: str | None, pages: int) -> None:
        self.path, self.password, self.pages = path, password, pages
        self.fh: BinaryIO | None = None
        self.reader: Any = None

    def text(self, index: int) -> str | None:
        if self.fh is None:
            try:
                self.fh = open(self.path, "rb")  # noqa: SIM115 - closed by close()
                with _quiet("pypdf"):
                    reader = _open_pypdf(self.fh, self.password)
                    if len(reader.pages) == self.pages:  # the same pages as qpdf's, or none
                        self.reader = reader
            except Exception:
                pass
        if self.reader is None:
            return None
        try:
            with _quiet("pypdf"):
                return str(self.reader.pages[index].extract_text() or "")
        except Exception:
            return None

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _forms_decode(page: pikepdf.Object, decoder: _Decoder) -> bool:
    """Whether the forms a page draws decode (if only in part) within the limit: PDFium
    reads them too, without limits of its own."""
    try:
        return decoder.verdict(list(_forms(page))) != _UNDECODABLE
    except Exception:
        return False


def _page_text(
    page: pikepdf.Object, index: int, doc: Any, decoder: _Decoder, fallback: _PypdfText
) -> tuple[str, bool]:
    """(text, whether the page's content cannot be decoded, or only in part) for one
    page. Content that decodes in part is read as far as it goes."""
    contents = _contents(page)
    verdict = _UNDECODABLE if contents is None else decoder.verdict(contents)
    if verdict == _UNDECODABLE:
        return "", True
    damaged = verdict == _DAMAGED
    # A page without any font (a scan) has no text to extract; skip the parser.
    if not _has_fonts(page):
        return "", damaged
    if doc is not None and _forms_decode(page, decoder):
        text = _pdfium_text(doc, index)
        if text is not None:
            return text, damaged
    # pypdf reads the page's own text, skipping a form it cannot decode within its limits
    text = fallback.text(index)
    return ("", True) if text is None else (text, damaged)


# ------------------------------------------------------------------ inspection


def _inspect(path: str, password: str | None, seconds: float, engine: str = PDFIUM) -> PdfInfo:
    """Inspect one PDF (runs in the bounded child). ``engine`` is :data:`PDFIUM`, or
    :data:`PYPDF` to read the text with pypdf alone (the retry after PDFium ran out of
    memory)."""
    started = time.monotonic()
    setter = getattr(pikepdf.settings, "set_qpdf_limits", None)  # pikepdf >= 10.x
    saved = setter(**_QPDF_LIMITS) if setter is not None else {}
    try:
        with _quiet("pikepdf"):
            return _inspect_qpdf(path, password, seconds, engine, started)
    finally:
        if setter is not None:
            setter(**saved)


def _inspect_qpdf(
    path: str, password: str | None, seconds: float, engine: str, started: float
) -> PdfInfo:
    info = PdfInfo()
    try:
        pdf = _open_qpdf(path, password, info)
        if pdf is None:
            return info
    except OSError as e:  # the file itself (missing, unreadable): not its content
        return PdfInfo(error=type(e).__name__)
    except Exception:
        return _inspect_pypdf(path, password, seconds, started)
    with pdf:
        try:
            info.pages = len(pdf.pages)
            info.repair_notes = _warnings(pdf, path)
            if info.repair_notes and (not info.pages or _ends_abruptly(path)):
                # What qpdf rebuilds of a damaged file without pages (e.g. it dropped a
                # page tree nested too deep), or of one cut short (an interrupted
                # download: the content of its last objects is lost, and qpdf leaves
                # it out), is not the document.
                raise _Unreadable
        except Exception:
            return _inspect_pypdf(path, password, seconds, started)
        info.opened = True
        info.repaired = bool(info.repair_notes)
        if pdf.is_encrypted:
            info.encrypted = True
            info.password_ok = True
            info.encryption = _encryption_name(pdf.trailer["/Encrypt"])
        with contextlib.suppress(Exception):  # features are best-effort
            _features(pdf.Root, info)
        _read_pages(info, pdf, path, password, engine, started + seconds * 0.7)
    return info


def _read_pages(
    info: PdfInfo,
    pdf: pikepdf.Pdf,
    path: str,
    password: str | None,
    engine: str,
    deadline: float,
) -> None:
    secret = password if info.encrypted else None
    doc = None
    if engine == PDFIUM and info.pages:
        doc = _open_pdfium(path, secret, info.needs_password, info.pages)
        if doc is None:
            doc = _open_pdfium_copy(pdf, info.pages)
    fallback = _PypdfText(path, secret, info.pages)
    decoder = _Decoder()
    try:
        for index, page in enumerate(pdf.pages):
            if index >= MAX_TEXT_PAGES or time.monotonic() > deadline:
                break
            try:
                text, bad = _page_text(page.obj, index, doc, decoder, fallback)
            except Exception:
                text, bad = "", True
            if bad:
                info.bad_pages.append(index + 1)
            info.text_checked += 1
            info.page_texts.append(text)
            if text.strip():
                info.text_pages += 1
    finally:
        fallback.close()
        if doc is not None:
            doc.close()


def _inspect_pypdf(path: str, password: str | None, seconds: float, started: float) -> PdfInfo:
    """A file qpdf cannot open (or finds no pages in) is judged by pypdf, which repairs
    some of them: its structure, and its text. Only pypdf's limits bound this path."""
    try:
        with open(path, "rb") as fh:
            return _inspect_pypdf_open(fh, password, seconds, started)
    except OSError as e:
        return PdfInfo(error=type(e).__name__)


def _inspect_pypdf_open(
    fh: BinaryIO, password: str | None, seconds: float, started: float
) -> PdfInfo:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import LimitReachedError

    info = PdfInfo()
    collect = _Collect()
    with _quiet("pypdf", collect):
        try:
            reader = PdfReader(fh, strict=False)
            if reader.is_encrypted:
                info.encrypted = True
                info.encryption = _encryption_name(reader.trailer["/Encrypt"])
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
            # qpdf could not open it: pypdf repaired it (if it says nothing, it skipped it)
            info.repaired = True
        except LimitReachedError:
            info.limit = "decompression"
            return info
        except Exception as e:
            info.error = type(e).__name__
            return info
        finally:
            # A header after leading junk is reported on its own (pdf.leading-junk).
            info.repair_notes = [n for n in collect.notes if not n.startswith("invalid pdf header")]
        with contextlib.suppress(Exception):
            _features(reader.trailer["/Root"], info)
        deadline = started + seconds * 0.7
        for number, page in enumerate(reader.pages[:MAX_TEXT_PAGES], start=1):
            if time.monotonic() > deadline:
                break
            try:
                text = page.extract_text() or ""
                bad = not text.strip() and not _pypdf_content_decodes(page)
            except Exception:
                text, bad = "", True
            if bad:
                info.bad_pages.append(number)
            info.text_checked += 1
            info.page_texts.append(text)
            if text.strip():
                info.text_pages += 1
    return info


def _pypdf_content_decodes(page: Any) -> bool:
    """pypdf's text extraction swallows decoding errors; decode an empty page's content
    (bounded by pypdf's own decompression limits) to tell "blank or scanned" from "broken"."""
    try:
        contents = page.get_contents()
        if contents is not None:
            contents.get_data()
    except Exception:
        return False
    return True


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
    ran out of memory (PDFium has no decompression limits of its own)."""
    try:
        return run_limited(_inspect, str(path), password, limits.seconds, PYPDF, limits=limits)
    except RuntimeError as e:
        return PdfInfo(error=str(e))

"""Merge the parts of a packet into one stamped, bookmarked, labelled PDF.

Public API::

    Part(title, group, source, password=None, sha256=None)
    assemble(parts, *, stamp, metadata, out, first_page_number=1, total_pages=None,
             encrypt_password=None) -> AssembleResult

What :func:`assemble` does, in order:

1. **Merge** every part's pages in order (pypdf ``PdfWriter.add_page``; an encrypted part
   is decrypted with its ``password`` first). Only pages are copied, never a source's
   catalog, so source outlines (which may loop), name trees, JavaScript, embedded files
   and AcroForm dictionaries are never even read. Page content streams are copied as
   they are (still compressed, never parsed). What cannot survive a merge safely is
   dropped and listed in :attr:`AssembleResult.dropped`:

   * form fields: each visible widget's appearance is drawn onto the page as a Form
     XObject (so filled-in values stay visible) and the widget is removed: the fields
     are no longer fillable;
   * digital signatures: invalid after any merge; their visible appearance is kept;
   * JavaScript (document level, page/annotation actions: ``/JS`` and ``/AA`` are never
     copied), launch/submit/import actions, embedded files and file-attachment
     annotations, document open actions.

2. **Stamp** every page: the existing content is wrapped as ``q <old content> Q`` (two
   tiny extra streams added to ``/Contents``; the old streams are referenced, not decoded)
   and a stamp Form XObject rendered by Typst is drawn at the visual bottom of the page
   (see :mod:`opinionkit.pdf.stamp`).

3. **Page labels** (one ``/PageLabels`` range: decimal, starting at
   ``first_page_number``), **bookmarks** (one per group, in order of first appearance,
   with its parts beneath; parts without a group at top level), **metadata**.

4. **Internal links**: every link annotation whose URI is ``opinionkit:page/N`` (what the
   Typst front matter writes) becomes a GoTo to the page *printed* as N in this output.

5. **Deterministic output**: the trailer ``/ID`` is a hash of the inputs (part digests,
   stamp, metadata, numbering) and no clock is read, so the same inputs give the same
   bytes (dates come from ``metadata``, e.g. ``CreationDate``). With
   ``encrypt_password`` (AES-256) the file is *not* byte-identical between runs: the
   PDF standard handler draws a random file key and random AES IVs.

Memory: each source is read lazily from its open file (never loaded whole), one source
open at a time; stream data is held once, by the writer, until written.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from pypdf import PdfReader, PdfWriter
from pypdf.constants import PageLabelStyle
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    PdfObject,
    StreamObject,
    TextStringObject,
)

from opinionkit import __version__
from opinionkit.errors import InputError
from opinionkit.pdf.stamp import (
    StampSpec,
    VisualBox,
    placement_matrix,
    render_stamps,
    render_width,
    right_text,
    visual_box,
)

__all__ = ["LINK_PREFIX", "AssembleResult", "Part", "PartPages", "assemble"]

LINK_PREFIX = "opinionkit:page/"
"""URI scheme the front matter uses for links to a printed page number of the packet."""

_PAGE_EXCLUDED_KEYS = ("/AA", "/JS", "/Thumb")
"""Never copied from a source page, at any depth (pypdf applies excluded keys recursively):
additional actions and JavaScript code. A ``/S /JavaScript`` action without ``/JS`` does
nothing."""

_UNSAFE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "launch actions",
    "/SubmitForm": "form submit actions",
    "/ImportData": "form import actions",
    "/ResetForm": "form reset actions",
    "/Rendition": "multimedia actions",
}

_READ_ERRORS: tuple[type[BaseException], ...] = (
    PyPdfError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
    OSError,
)


@dataclass(frozen=True)
class Part:
    """One contiguous run of pages in the packet.

    ``source`` is a PDF file or PDF bytes (e.g. front matter rendered by Typst, or scanned
    images turned into a PDF by :func:`opinionkit.pdf.images.images_to_pdf`).
    ``sha256`` (hex) may be passed when the caller has already hashed the file (the
    manifest does); otherwise the file is hashed here for the document ID.
    """

    title: str
    group: str | None
    source: Path | bytes
    password: str | None = None
    sha256: str | None = None

    def label(self, index: int) -> str:
        """How error messages name this part (file name only, never its content)."""
        if isinstance(self.source, Path):
            return f"part {index + 1} ({self.source.name})"
        return f"part {index + 1}"


@dataclass(frozen=True)
class PartPages:
    """Where a part landed, in printed page numbers (``pages`` is empty for a 0-page part)."""

    index: int
    title: str
    group: str | None
    pages: range

    @property
    def first(self) -> int | None:
        return self.pages[0] if self.pages else None

    @property
    def last(self) -> int | None:
        return self.pages[-1] if self.pages else None


@dataclass
class AssembleResult:
    parts: list[PartPages]
    page_count: int
    """Pages in this output."""
    first_page_number: int
    total_pages: int
    """The N of "Page x of N" (pages across all volumes)."""
    bookmarks: list[str]
    """Bookmark titles written, depth-first ("Group" then "Group/Part" entries as titles)."""
    dropped: list[tuple[int, str]] = field(default_factory=list)
    """(part index, what) for content that could not survive the merge safely."""
    unresolved_links: list[tuple[int, str]] = field(default_factory=list)
    """(printed page, URI) of ``opinionkit:page/`` links whose target is not in this output."""
    document_id: str = ""
    """Hex of the first trailer /ID entry."""


class PartError(InputError):
    """One part cannot be read or merged; ``index`` says which (the message names its file)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@contextmanager
def quiet_pypdf() -> Iterator[None]:
    """Keep pypdf's warnings (which may quote bytes of a record) out of every log.

    pypdf logs repairs through the ``pypdf`` logger; with no handler configured, Python
    would print them on stderr. Inside this block they go nowhere."""
    import logging

    log = logging.getLogger("pypdf")
    saved = (log.propagate, list(log.handlers))
    log.propagate = False
    log.handlers = [logging.NullHandler()]
    try:
        yield
    finally:
        log.propagate, log.handlers = saved[0], saved[1]


# --------------------------------------------------------------------------- helpers


def _resolve(obj: Any) -> Any:
    return obj.get_object() if isinstance(obj, IndirectObject) else obj


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _part_digest(part: Part) -> str:
    if part.sha256:
        return part.sha256
    if isinstance(part.source, bytes):
        return hashlib.sha256(part.source).hexdigest()
    return _file_sha256(part.source)


@contextmanager
def _open_reader(part: Part, index: int) -> Iterator[PdfReader]:
    """A reader over the part, decrypted; the file stays open only inside the block."""
    fh: BinaryIO
    if isinstance(part.source, bytes):
        fh = io.BytesIO(part.source)
    else:
        try:
            fh = part.source.open("rb")
        except OSError as exc:
            raise PartError(index, f"{part.label(index)}: cannot open: {exc.strerror}") from None
    try:
        try:
            reader = PdfReader(fh, strict=False)
            if reader.is_encrypted:
                ok = reader.decrypt(part.password or "")
                if not ok:
                    what = "wrong password" if part.password else "encrypted, needs a password"
                    raise PartError(index, f"{part.label(index)}: {what}")
        except InputError:
            raise
        except _READ_ERRORS as exc:
            raise PartError(
                index, f"{part.label(index)}: not a readable PDF ({type(exc).__name__})"
            ) from None
        yield reader
    finally:
        fh.close()


def _name_tree_has(names: Any, key: str) -> bool:
    try:
        return key in _resolve(names)
    except _READ_ERRORS:
        return False


def _catalog_drops(reader: PdfReader) -> list[str]:
    """What the source's catalog holds that a page-level merge leaves behind."""
    found: list[str] = []
    try:
        root = cast(DictionaryObject, reader.trailer["/Root"].get_object())
        names = root.get("/Names")
        if names is not None:
            if _name_tree_has(names, "/JavaScript"):
                found.append("JavaScript")
            if _name_tree_has(names, "/EmbeddedFiles"):
                found.append("embedded files")
        if "/OpenAction" in root:
            action = _resolve(root.raw_get("/OpenAction"))
            if isinstance(action, DictionaryObject):
                found.append("document open action")
        if "/AA" in root:
            found.append("document actions")
        acro = _resolve(root.get("/AcroForm"))
        if isinstance(acro, DictionaryObject):
            if "/XFA" in acro:
                found.append("XFA form")
            sigflags = acro.get("/SigFlags", 0)
            if isinstance(sigflags, int) and sigflags & 1:
                found.append("digital signature (no longer valid after merging; appearance kept)")
    except _READ_ERRORS:
        pass
    return found


def _field_type(annot: DictionaryObject) -> str | None:
    seen = 0
    node: Any = annot
    while isinstance(node, DictionaryObject) and seen < 32:
        ft = node.get("/FT")
        if ft is not None:
            return str(ft)
        node = _resolve(node.get("/Parent"))
        seen += 1
    return None


def _filter_source_annots(page: DictionaryObject, note: Callable[[str], None]) -> None:
    """Remove, on the (in-memory) source page, annotations that must not be copied at all."""
    raw = page.get("/Annots")
    annots = _resolve(raw)
    if not isinstance(annots, ArrayObject):
        if raw is not None:
            del page["/Annots"]
        return
    kept = ArrayObject()
    changed = False
    for ref in annots:
        annot = _resolve(ref)
        if not isinstance(annot, DictionaryObject):
            changed = True
            continue
        subtype = annot.get("/Subtype")
        if subtype == "/FileAttachment":
            note("embedded files")
            changed = True
            continue
        if subtype == "/Widget":
            ft = _field_type(annot)
            if ft == "/Sig":
                note("digital signature (no longer valid after merging; appearance kept)")
            else:
                note("form fields (flattened: values kept, no longer fillable)")
        if "/AA" in annot:
            note("JavaScript")
        action = _resolve(annot.get("/A"))
        if isinstance(action, DictionaryObject):
            kind = action.get("/S")
            if kind in _UNSAFE_ACTIONS:
                note(_UNSAFE_ACTIONS[str(kind)])
                annot_copy = DictionaryObject(annot)
                del annot_copy["/A"]
                kept.append(annot_copy)
                changed = True
                continue
        kept.append(ref)
    if changed:
        page[NameObject("/Annots")] = kept


def _appearance(annot: DictionaryObject) -> StreamObject | None:
    ap = _resolve(annot.get("/AP"))
    if not isinstance(ap, DictionaryObject):
        return None
    normal = _resolve(ap.get("/N"))
    if isinstance(normal, StreamObject):
        return normal
    if isinstance(normal, DictionaryObject):
        state = annot.get("/AS")
        chosen = _resolve(normal.get(state)) if state is not None else None
        if isinstance(chosen, StreamObject):
            return chosen
    return None


def _numbers(obj: Any, n: int) -> list[float] | None:
    obj = _resolve(obj)
    if not isinstance(obj, ArrayObject) or len(obj) != n:
        return None
    try:
        return [float(_resolve(v)) for v in obj]
    except (TypeError, ValueError):
        return None


def _flatten_widget(annot: DictionaryObject) -> tuple[IndirectObject, str] | None:
    """(form ref, cm operands) drawing the widget's appearance where the viewer would."""
    flags = annot.get("/F", 0)
    if isinstance(flags, int) and flags & (2 | 32):  # Hidden, NoView
        return None
    form = _appearance(annot)
    rect = _numbers(annot.get("/Rect"), 4)
    if form is None or rect is None or form.indirect_reference is None:
        return None
    bbox = _numbers(form.get("/BBox"), 4)
    if bbox is None:
        return None
    m = _numbers(form.get("/Matrix"), 6) or [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    corners = [(bbox[0], bbox[1]), (bbox[0], bbox[3]), (bbox[2], bbox[1]), (bbox[2], bbox[3])]
    xs = [m[0] * x + m[2] * y + m[4] for x, y in corners]
    ys = [m[1] * x + m[3] * y + m[5] for x, y in corners]
    bw, bh = max(xs) - min(xs), max(ys) - min(ys)
    rx0, ry0 = min(rect[0], rect[2]), min(rect[1], rect[3])
    rw, rh = abs(rect[2] - rect[0]), abs(rect[3] - rect[1])
    if bw <= 0 or bh <= 0 or rw <= 0 or rh <= 0:
        return None
    sx, sy = rw / bw, rh / bh
    cm = (sx, 0.0, 0.0, sy, rx0 - min(xs) * sx, ry0 - min(ys) * sy)
    form[NameObject("/Type")] = NameObject("/XObject")
    form[NameObject("/Subtype")] = NameObject("/Form")
    return form.indirect_reference, _fmt(cm)


def _fmt(values: Sequence[float]) -> str:
    out = []
    for v in values:
        s = f"{v:.4f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return " ".join(out)


def _flatten_widgets(page: DictionaryObject) -> list[tuple[IndirectObject, str]]:
    """Take widget annotations off a (writer-side) page; return their draws."""
    annots = _resolve(page.get("/Annots"))
    if not isinstance(annots, ArrayObject):
        return []
    draws: list[tuple[IndirectObject, str]] = []
    kept = ArrayObject()
    for ref in annots:
        annot = _resolve(ref)
        if isinstance(annot, DictionaryObject) and annot.get("/Subtype") == "/Widget":
            draw = _flatten_widget(annot)
            if draw is not None:
                draws.append(draw)
            continue
        kept.append(ref)
    if len(kept) != len(annots):
        if kept:
            page[NameObject("/Annots")] = kept
        else:
            del page["/Annots"]
    return draws


def _unique_name(existing: Any, base: str) -> str:
    name, n = base, 0
    while isinstance(existing, DictionaryObject) and name in existing:
        n += 1
        name = f"{base}{n}"
    return name


def _content_refs(page: DictionaryObject) -> list[PdfObject]:
    raw = page.raw_get("/Contents") if "/Contents" in page else None
    if raw is None:
        return []
    obj = _resolve(raw)
    if isinstance(obj, ArrayObject):
        return [v for v in obj if isinstance(v, IndirectObject)]
    if isinstance(obj, StreamObject):
        return [raw]
    return []


def _stamp_forms(writer: PdfWriter, stamps_pdf: bytes, count: int) -> list[IndirectObject]:
    """Turn each page of the Typst stamp PDF into a Form XObject inside ``writer``."""
    reader = PdfReader(io.BytesIO(stamps_pdf))
    if len(reader.pages) != count:
        raise RuntimeError(f"stamp rendering gave {len(reader.pages)} pages, expected {count}")
    forms: list[IndirectObject] = []
    for spage in reader.pages:
        raw = spage.raw_get("/Contents")
        content = _resolve(raw)
        if isinstance(content, StreamObject) and isinstance(raw, IndirectObject):
            form = cast(StreamObject, content.clone(writer))
        else:  # several streams: join them (our own tiny stamp, safe to decode)
            form = DecodedStreamObject()
            contents = spage.get_contents()
            form.set_data(contents.get_data() if contents is not None else b"")
            form = cast(StreamObject, writer._add_object(form).get_object())
        form[NameObject("/Type")] = NameObject("/XObject")
        form[NameObject("/Subtype")] = NameObject("/Form")
        box = spage.mediabox
        form[NameObject("/BBox")] = ArrayObject(
            [
                FloatObject(box.left),
                FloatObject(box.bottom),
                FloatObject(box.right),
                FloatObject(box.top),
            ]
        )
        resources = spage.get("/Resources")
        if resources is not None:
            form[NameObject("/Resources")] = _resolve(resources).clone(writer)
        assert form.indirect_reference is not None
        forms.append(form.indirect_reference)
    return forms


def _document_id(
    parts: Sequence[Part],
    stamp: StampSpec,
    metadata: Mapping[str, str],
    first: int,
    total: int,
    encrypt: bool,
) -> bytes:
    h = hashlib.sha256(f"opinionkit {__version__} pdf/1\n".encode())
    for part in parts:
        h.update(f"{part.title}\0{part.group}\0{_part_digest(part)}\n".encode())
    h.update(repr((stamp.left, stamp.bates_prefix, stamp.bates_start)).encode())
    h.update(repr(sorted(metadata.items())).encode())
    h.update(f"{first}/{total}/{encrypt}".encode())
    return h.digest()[:16]


# --------------------------------------------------------------------------- assemble


def assemble(
    parts: Sequence[Part],
    *,
    stamp: StampSpec,
    metadata: Mapping[str, str],
    out: BinaryIO,
    first_page_number: int = 1,
    total_pages: int | None = None,
    encrypt_password: str | None = None,
) -> AssembleResult:
    """Merge ``parts`` into one packet written to ``out`` (see the module docstring).

    ``metadata`` keys are Info dictionary names with or without the slash (``Title``,
    ``Author``, ``Subject``, ``Keywords``, ``Creator``, ``CreationDate``, ``ModDate``...;
    dates as PDF date strings such as ``D:20240301120000Z``). ``Producer`` defaults to
    ``opinionkit <version>``. Nothing else is added: no patient data unless passed here.

    ``first_page_number``/``total_pages`` number a volume inside a larger packet: pages
    print "Page first..first+n-1 of total" and page labels match. ``total_pages`` defaults
    to the last printed number of this output.

    Raises :class:`~opinionkit.errors.InputError` naming the part for a source that cannot
    be read or decrypted.
    """
    with quiet_pypdf():
        return _assemble(
            parts,
            stamp=stamp,
            metadata=metadata,
            out=out,
            first_page_number=first_page_number,
            total_pages=total_pages,
            encrypt_password=encrypt_password,
        )


def _assemble(
    parts: Sequence[Part],
    *,
    stamp: StampSpec,
    metadata: Mapping[str, str],
    out: BinaryIO,
    first_page_number: int = 1,
    total_pages: int | None = None,
    encrypt_password: str | None = None,
) -> AssembleResult:
    writer = PdfWriter()
    result_parts: list[PartPages] = []
    dropped: list[tuple[int, str]] = []
    draws: dict[int, list[tuple[IndirectObject, str]]] = {}

    for index, part in enumerate(parts):
        seen: set[str] = set()

        def note(what: str, index: int = index, seen: set[str] = seen) -> None:
            if what not in seen:
                seen.add(what)
                dropped.append((index, what))

        start = len(writer.pages)
        with _open_reader(part, index) as reader:
            try:
                for what in _catalog_drops(reader):
                    note(what)
                for src_page in reader.pages:
                    if "/AA" in src_page:
                        note("JavaScript")
                    _filter_source_annots(src_page, note)
                    new_page = writer.add_page(src_page, excluded_keys=_PAGE_EXCLUDED_KEYS)
                    page_draws = _flatten_widgets(new_page)
                    if page_draws:
                        draws[len(writer.pages) - 1] = page_draws
                # Resolve this part's internal links now, then forget the reader: keeps
                # memory to one source at a time.
                writer._resolve_links()
                writer._unresolved_links.clear()
                writer._merged_in_pages.clear()
                writer._id_translated.pop(id(reader), None)
            except InputError:
                raise
            except _READ_ERRORS as exc:
                raise PartError(
                    index, f"{part.label(index)}: damaged PDF ({type(exc).__name__})"
                ) from None
        count = len(writer.pages) - start
        printed_start = first_page_number + start
        result_parts.append(
            PartPages(index, part.title, part.group, range(printed_start, printed_start + count))
        )

    pages = list(writer.pages)
    n = len(pages)
    total = total_pages if total_pages is not None else first_page_number + n - 1
    if total < first_page_number + n - 1:
        raise ValueError("total_pages is smaller than the last page number of this output")

    # ---- stamps
    boxes: list[VisualBox] = [visual_box(p) for p in pages]
    layout = [render_width(b) for b in boxes]
    if n:
        stamps_pdf = render_stamps(
            stamp,
            [(layout[i][0], right_text(stamp, first_page_number + i, total, i)) for i in range(n)],
        )
        forms = _stamp_forms(writer, stamps_pdf, n)
        q_stream = DecodedStreamObject()
        q_stream.set_data(b"q\n")
        q_ref = writer._add_object(q_stream)
        for i, page in enumerate(pages):
            _stamp_page(writer, page, forms[i], boxes[i], layout[i][1], q_ref, draws.get(i, []))

    # ---- internal links
    unresolved = _rewrite_links(pages, first_page_number)

    # ---- page labels, bookmarks, metadata
    if n:
        writer.set_page_label(0, n - 1, style=PageLabelStyle.DECIMAL, start=first_page_number)
    bookmarks = _add_bookmarks(writer, result_parts, first_page_number)
    info: dict[str, Any] = {"/Producer": f"opinionkit {__version__}"}
    for key, value in metadata.items():
        info["/" + key.lstrip("/")] = TextStringObject(value)
    writer.add_metadata(info)

    # ---- deterministic ID, optional encryption, write
    doc_id = _document_id(
        parts, stamp, metadata, first_page_number, total, encrypt_password is not None
    )
    from pypdf.generic import ByteStringObject

    writer._ID = ArrayObject([ByteStringObject(doc_id), ByteStringObject(doc_id)])
    if encrypt_password is not None:
        writer.encrypt(encrypt_password, algorithm="AES-256")
        writer._ID = ArrayObject([ByteStringObject(doc_id), ByteStringObject(doc_id)])
    writer.write(out)
    return AssembleResult(
        parts=result_parts,
        page_count=n,
        first_page_number=first_page_number,
        total_pages=total,
        bookmarks=bookmarks,
        dropped=dropped,
        unresolved_links=unresolved,
        document_id=doc_id.hex(),
    )


def _stamp_page(
    writer: PdfWriter,
    page: DictionaryObject,
    form: IndirectObject,
    box: VisualBox,
    scale: float,
    q_ref: IndirectObject,
    extra: list[tuple[IndirectObject, str]],
) -> None:
    resources = _resolve(page.get("/Resources"))
    new_res = (
        DictionaryObject(resources)
        if isinstance(resources, DictionaryObject)
        else DictionaryObject()
    )
    xobjects = _resolve(new_res.get("/XObject"))
    new_xo = (
        DictionaryObject(xobjects) if isinstance(xobjects, DictionaryObject) else DictionaryObject()
    )
    ops = [b"\nQ\n"]
    for ref, cm in extra:
        name = _unique_name(new_xo, "/OkField")
        new_xo[NameObject(name)] = ref
        ops.append(f"q {cm} cm {name} Do Q\n".encode())
    stamp_name = _unique_name(new_xo, "/OkStamp")
    new_xo[NameObject(stamp_name)] = form
    ops.append(f"q {_fmt(placement_matrix(box, scale))} cm {stamp_name} Do Q\n".encode())
    new_res[NameObject("/XObject")] = new_xo
    page[NameObject("/Resources")] = new_res

    tail = DecodedStreamObject()
    tail.set_data(b"".join(ops))
    contents = _content_refs(page)
    page[NameObject("/Contents")] = ArrayObject([q_ref, *contents, writer._add_object(tail)])


_LINK_RE = re.compile(r"^opinionkit:page/(\d{1,9})$")


def _rewrite_links(pages: list[Any], first: int) -> list[tuple[int, str]]:
    unresolved: list[tuple[int, str]] = []
    for i, page in enumerate(pages):
        annots = _resolve(page.get("/Annots"))
        if not isinstance(annots, ArrayObject):
            continue
        for ref in annots:
            annot = _resolve(ref)
            if not isinstance(annot, DictionaryObject) or annot.get("/Subtype") != "/Link":
                continue
            action = _resolve(annot.get("/A"))
            if not isinstance(action, DictionaryObject) or action.get("/S") != "/URI":
                continue
            uri = _resolve(action.get("/URI"))
            uri_text = bytes(uri).decode("latin-1") if isinstance(uri, bytes) else str(uri)
            if not uri_text.startswith(LINK_PREFIX):
                continue
            m = _LINK_RE.match(uri_text)
            target = int(m.group(1)) - first if m else -1
            if 0 <= target < len(pages):
                annot[NameObject("/A")] = DictionaryObject(
                    {
                        NameObject("/S"): NameObject("/GoTo"),
                        NameObject("/D"): ArrayObject(
                            [pages[target].indirect_reference, NameObject("/Fit")]
                        ),
                    }
                )
            else:
                del annot["/A"]
                unresolved.append((first + i, uri_text))
    return unresolved


def _add_bookmarks(writer: PdfWriter, parts: list[PartPages], first: int) -> list[str]:
    written: list[str] = []
    groups: dict[str, Any] = {}
    for part in parts:
        if part.first is None:
            continue
        index = part.first - first
        parent = None
        if part.group is not None:
            parent = groups.get(part.group)
            if parent is None:
                parent = writer.add_outline_item(title=part.group, page_number=index)
                groups[part.group] = parent
                written.append(part.group)
        writer.add_outline_item(title=part.title, page_number=index, parent=parent)
        written.append(f"{part.group}/{part.title}" if part.group is not None else part.title)
    return written


_ = (NullObject, NumberObject)  # re-exported names kept for type checkers

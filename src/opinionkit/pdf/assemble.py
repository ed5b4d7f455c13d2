"""Merge the parts of a packet into one stamped, bookmarked, labelled PDF.

Public API::

    Part(title, group, source, password=None, sha256=None)
    assemble(parts, *, stamp, metadata, out, first_page_number=1, total_pages=None,
             encrypt_password=None) -> AssembleResult

The work is done by libqpdf (through pikepdf), which copies pages and writes the file at
close to the speed of a plain ``qpdf --empty --pages ... --`` merge. What :func:`assemble`
does, in order:

1. **Merge** every part's pages in order (an encrypted part is opened with its
   ``password``). Only pages are copied, never a source's catalog, so name trees,
   JavaScript, embedded files and AcroForm dictionaries are never carried over; what a
   reader navigates by is (:mod:`opinionkit.pdf.navigation`, bounded against loops and
   huge trees): the source's bookmarks are read and placed beneath its part's bookmark,
   and its internal links (named destinations too) land on the packet's copies of its
   pages. A link to a page outside the source's page tree is removed. Stream
   data is copied as it is (still compressed, never decoded: a decompression bomb stays
   a few kilobytes). What cannot survive a merge safely is dropped and listed in
   :attr:`AssembleResult.dropped`:

   * form fields: each visible widget's appearance is drawn onto the page as a Form
     XObject (so filled-in values stay visible) and the widget is removed: the fields
     are no longer fillable;
   * digital signatures: invalid after any merge; their visible appearance is kept;
   * JavaScript (page and annotation ``/AA`` actions are removed, and any annotation
     action that is or chains to JavaScript, launch, submit, import, reset or rendition),
     embedded files and file-attachment annotations, document open actions; page
     thumbnails (``/Thumb``) are not copied either.

2. **Stamp** every page: the existing content is wrapped as ``q <old content> Q`` (two
   tiny extra streams added to ``/Contents``; the old streams are referenced, not decoded)
   and a stamp Form XObject rendered by Typst is drawn at the visual bottom of the page
   (see :mod:`opinionkit.pdf.stamp`).

3. **Page labels** (one ``/PageLabels`` range: decimal, starting at
   ``first_page_number``), **bookmarks** (one per group, in order of first appearance,
   with its parts beneath, and each part's own bookmarks beneath it; parts without a
   group at top level; the file opens with them shown), **metadata** (the viewer's title
   bar shows its Title).

4. **Internal links**: every link annotation whose URI is ``opinionkit:page/N`` (what the
   Typst front matter writes) becomes a GoTo to the page *printed* as N in this output.

5. **Deterministic output**: the first trailer ``/ID`` entry is a hash of the inputs (part
   digests, stamp, metadata, numbering), the second qpdf's fixed value, and no clock is
   read, so the same inputs give the same bytes (dates come from
   ``metadata``, e.g. ``CreationDate``). With ``encrypt_password`` (AES-256, R6) the
   file is *not* byte-identical between runs: the standard security handler draws a
   random file key, salts and AES IVs.

The output's SHA-256 and size are computed as it is written (no second read of it).

Memory: the sources' files stay open until the output is written, and their stream data
is read from them then, as the ``qpdf`` command does (see :func:`_open_source`): the
copied page dictionaries are in memory, the images and content streams are not. Each
source's own Pdf (the objects qpdf parsed from it) is let go as soon as its pages are
copied, and the output's hasher is started before the merge grows.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import logging
import os
import re
import stat
import struct
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeGuard

import pikepdf
from pikepdf import Array, Dictionary, Name, Pdf, Stream, String

from opinionkit import __version__, typstproc
from opinionkit.errors import InputError
from opinionkit.inspect.filetype import file_sha256
from opinionkit.pdf.navigation import READ_ERRORS, Destinations, Mark, fix_links, read_outline
from opinionkit.pdf.stamp import (
    NumberFont,
    StampSpec,
    VisualBox,
    number_font,
    number_ops,
    placement_matrix,
    render_sheet,
    render_stamps,
    render_width,
    right_text,
    visual_box,
)

__all__ = ["LINK_PREFIX", "AssembleResult", "Part", "PartPages", "assemble", "merge_problem"]

LINK_PREFIX = "opinionkit:page/"
"""URI scheme the front matter uses for links to a printed page number of the packet."""

_PAGE_DROPPED_KEYS = ("/AA", "/Thumb")
"""Never kept on a copied page: additional actions (may run JavaScript) and thumbnails."""

_UNSAFE_ACTIONS = {
    "/JavaScript": "JavaScript",
    "/Launch": "launch actions",
    "/SubmitForm": "form submit actions",
    "/ImportData": "form import actions",
    "/ResetForm": "form reset actions",
    "/Rendition": "multimedia actions",
}

_SIGNATURE_NOTE = "digital signature (no longer valid after merging; appearance kept)"


@dataclass(frozen=True)
class Part:
    """One contiguous run of pages in the packet.

    ``source`` is a PDF file or PDF bytes (e.g. front matter rendered by Typst, or scanned
    images turned into a PDF by :func:`opinionkit.pdf.images.images_to_pdf`).
    ``sha256`` (hex) may be passed when the caller has already hashed the file (the
    manifest does); otherwise the file is hashed here for the document ID.
    ``bookmarks``: carry the source's own bookmarks beneath the part's bookmark (off for
    pages made for the packet, such as the front matter, whose headings need none).
    """

    title: str
    group: str | None
    source: Path | bytes
    password: str | None = None
    sha256: str | None = None
    bookmarks: bool = True

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
    """Bookmark titles written, depth-first: "Group", then "Group/Part", then the part's
    own bookmarks as "Group/Part/Title" (and deeper)."""
    dropped: list[tuple[int, str]] = field(default_factory=list)
    """(part index, what) for content that could not survive the merge safely."""
    unresolved_links: list[tuple[int, str]] = field(default_factory=list)
    """(printed page, URI) of ``opinionkit:page/`` links whose target is not in this output."""
    document_id: str = ""
    """Hex of the first trailer /ID entry."""
    sha256: str = ""
    """SHA-256 (hex) of the bytes written to ``out``, computed while writing."""
    size: int = 0
    """Bytes written to ``out``."""


class PartError(InputError):
    """One part cannot be read or merged; ``index`` says which (the message names its file)."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@contextmanager
def quiet_pikepdf() -> Iterator[None]:
    """Keep qpdf's warnings (which may quote bytes of a record) out of every log.

    pikepdf forwards them to the ``pikepdf`` logger; with no handler configured, Python
    would print them on stderr. Inside this block they go nowhere."""
    log = logging.getLogger("pikepdf")
    saved = (log.propagate, list(log.handlers))
    log.propagate = False
    log.handlers = [logging.NullHandler()]
    try:
        yield
    finally:
        log.propagate, log.handlers = saved


# --------------------------------------------------------------------------- helpers


def _part_digest(part: Part) -> str:
    if part.sha256:
        return part.sha256
    if isinstance(part.source, bytes):
        return hashlib.sha256(part.source).hexdigest()
    return file_sha256(part.source)


_FD_RESERVE = 64
"""Descriptors left for everything else (the output, pipes, the hasher, Typst's fonts)."""


def lazy_source_limit() -> int:
    """How many sources may stay open until the packet is written (one descriptor each;
    later ones are copied into memory at once). The soft open-files limit is raised to
    the hard one first (a process may do so on its own), so a 500-file packet is read
    lazily like a 50-file one under the usual limits."""
    try:
        import resource  # POSIX only
    except ImportError:  # pragma: no cover - Windows: its C runtime's 512 streams
        return 512 - _FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    if soft < want:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
    return max(16, soft - _FD_RESERVE)


def _open_source(part: Part, index: int, lazy: bool) -> Pdf:
    """The part, opened and decrypted (the caller closes it).

    A file is opened through qpdf's job interface when ``lazy``: pikepdf's own
    :meth:`Pdf.open` makes qpdf copy every page's stream data into memory at
    ``copy_foreign`` time (about the size of the inputs), a job-opened file lets the
    output read it from the file while it is written, as the ``qpdf`` command does.
    ``noWarn`` keeps qpdf's warnings (which may quote bytes of the record) off stderr.
    """
    try:
        if isinstance(part.source, Path) and lazy:
            spec: dict[str, str] = {
                "inputFile": str(part.source),
                "outputFile": os.devnull,
                "noWarn": "",
            }
            if part.password:
                spec["password"] = part.password
            if not part.source.is_file():
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))
            return pikepdf.Job(spec).create_pdf()
        source: Path | BinaryIO = (
            io.BytesIO(part.source) if isinstance(part.source, bytes) else part.source
        )
        return Pdf.open(
            source,
            password=part.password or "",
            access_mode=pikepdf.AccessMode.stream,
            inherit_page_attributes=True,
        )
    except pikepdf.PasswordError:
        what = "wrong password" if part.password else "encrypted, needs a password"
        raise PartError(index, f"{part.label(index)}: {what}") from None
    except FileNotFoundError as exc:
        raise PartError(index, f"{part.label(index)}: cannot open: {exc.strerror}") from None
    except READ_ERRORS as exc:
        raise PartError(
            index, f"{part.label(index)}: not a readable PDF ({type(exc).__name__})"
        ) from None


_INHERITED = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")
"""Page attributes a page may take from its ancestors in the page tree."""


def _push_inherited(page: Any) -> None:
    """Set on a source page the attributes it inherits (what ``inherit_page_attributes``
    does for :meth:`Pdf.open`, which a job-opened file does not get), so that the copy,
    which has no page tree above it, keeps them."""
    missing = [key for key in _INHERITED if key not in page]
    node, depth = page.get("/Parent"), 0
    while missing and _is_dict(node) and depth < 64:
        for key in list(missing):
            value = node.get(key)
            if value is not None:
                page[key] = value
                missing.remove(key)
        node, depth = node.get("/Parent"), depth + 1


def _is_dict(obj: Any) -> TypeGuard[Dictionary]:
    return isinstance(obj, Dictionary)


def _catalog_drops(pdf: Pdf) -> list[str]:
    """What the source's catalog holds that a page-level merge leaves behind."""
    found: list[str] = []
    try:
        root = pdf.Root
        names = root.get("/Names")
        if _is_dict(names):
            if "/JavaScript" in names:
                found.append("JavaScript")
            if "/EmbeddedFiles" in names:
                found.append("embedded files")
        if _is_dict(root.get("/OpenAction")):
            found.append("document open action")
        if "/AA" in root:
            found.append("document actions")
        acro = root.get("/AcroForm")
        if _is_dict(acro):
            if "/XFA" in acro:
                found.append("XFA form")
            sigflags = acro.get("/SigFlags", 0)
            if isinstance(sigflags, int) and sigflags & 1:
                found.append(_SIGNATURE_NOTE)
    except READ_ERRORS:
        pass
    return found


def _field_type(annot: Any) -> str | None:
    node: Any = annot
    for _ in range(32):
        if not _is_dict(node):
            return None
        ft = node.get("/FT")
        if ft is not None:
            return str(ft)
        node = node.get("/Parent")
    return None


def _unsafe_action(action: Any) -> str | None:
    """What an action (or one it chains to through ``/Next``) does that must not be kept."""
    todo, seen = [action], 0
    while todo and seen < 64:
        act = todo.pop()
        seen += 1
        if isinstance(act, Array):
            todo.extend(act)
            continue
        if not _is_dict(act):
            continue
        kind = act.get("/S")
        if kind is not None and str(kind) in _UNSAFE_ACTIONS:
            return _UNSAFE_ACTIONS[str(kind)]
        if "/JS" in act:
            return "JavaScript"
        nxt = act.get("/Next")
        if nxt is not None:
            todo.append(nxt)
    return None


def _numbers(obj: Any, n: int) -> list[float] | None:
    if not isinstance(obj, Array) or len(obj) != n:
        return None
    try:
        return [float(v) for v in obj]
    except (TypeError, ValueError):
        return None


def _appearance(annot: Any) -> Any:
    ap = annot.get("/AP")
    if not _is_dict(ap):
        return None
    normal = ap.get("/N")
    if isinstance(normal, Stream):
        return normal
    if _is_dict(normal):
        state = annot.get("/AS")
        chosen = normal.get(str(state)) if isinstance(state, Name) else None
        if isinstance(chosen, Stream):
            return chosen
    return None


def _flatten_widget(annot: Any) -> tuple[Any, str] | None:
    """(form, cm operands) drawing the widget's appearance where the viewer would."""
    flags = annot.get("/F", 0)
    if isinstance(flags, int) and flags & (2 | 32):  # Hidden, NoView
        return None
    form = _appearance(annot)
    rect = _numbers(annot.get("/Rect"), 4)
    if form is None or rect is None or not form.is_indirect:
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
    form.Type = Name.XObject
    form.Subtype = Name.Form
    return form, _fmt(cm)


def _fmt(values: Sequence[float]) -> str:
    out = []
    for v in values:
        s = f"{v:.4f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return " ".join(out)


def _clean_page(page: Any, note: Callable[[str], None]) -> list[tuple[Any, str]]:
    """Make a copied page safe: drop actions, attachments and widgets (drawing the visible
    widgets' appearances instead). Returns the draws for the stamp's tail stream."""
    for key in _PAGE_DROPPED_KEYS:
        if key in page:
            if key == "/AA":
                note("JavaScript")
            del page[key]
    if "/Annots" not in page:
        return []
    annots = page.get("/Annots")
    if not isinstance(annots, Array):
        del page["/Annots"]
        return []
    draws: list[tuple[Any, str]] = []
    kept: list[Any] = []
    changed = False
    for annot in annots:
        if not _is_dict(annot):
            changed = True
            continue
        subtype = annot.get("/Subtype")
        if subtype == Name.FileAttachment:
            note("embedded files")
            changed = True
            continue
        if subtype == Name.Widget:
            note(
                _SIGNATURE_NOTE
                if _field_type(annot) == "/Sig"
                else "form fields (flattened: values kept, no longer fillable)"
            )
            draw = _flatten_widget(annot)
            if draw is not None:
                draws.append(draw)
            changed = True
            continue
        if "/AA" in annot:
            note("JavaScript")
            del annot["/AA"]
        action = annot.get("/A")
        if action is not None and (what := _unsafe_action(action)) is not None:
            note(what)
            del annot["/A"]
        kept.append(annot)
    if changed:
        if kept:
            page.Annots = Array(kept)
        else:
            del page["/Annots"]
    return draws


def _unique_name(existing: Any, base: str) -> str:
    name, n = base, 0
    while _is_dict(existing) and name in existing:
        n += 1
        name = f"{base}{n}"
    return name


def _close_all(held: dict[int, Pdf]) -> None:
    for source in held.values():
        source.close()
    held.clear()


@contextmanager
def _damaged(part: Part, index: int) -> Iterator[None]:
    """Report what reading a damaged part raises as a :class:`PartError` naming it."""
    try:
        yield
    except InputError:
        raise
    except READ_ERRORS as exc:
        raise PartError(index, f"{part.label(index)}: damaged PDF ({type(exc).__name__})") from None


def _page_box(obj: Any) -> VisualBox:
    return visual_box(
        {
            "/MediaBox": obj.get("/MediaBox"),
            "/CropBox": obj.get("/CropBox"),
            "/Rotate": obj.get("/Rotate", 0),
        }
    )


def _stamp_forms(out: Pdf, stamps_pdf: bytes, count: int) -> list[Any]:
    """Turn each page of a Typst stamp PDF into a Form XObject inside ``out`` (the fonts
    all stamps share are copied once)."""
    stamps = Pdf.open(io.BytesIO(stamps_pdf))
    if len(stamps.pages) != count:
        raise RuntimeError(f"stamp rendering gave {len(stamps.pages)} pages, expected {count}")
    forms = [page.as_form_xobject(handle_transformations=False) for page in stamps.pages]
    # one copy of them all: a copy_foreign call per form cost twice as much
    return list(out.copy_foreign(stamps.make_indirect(Array(forms))))


@dataclass
class _Stamps:
    """Every page's stamp: a Form XObject shared by all pages of one layout width (the
    left text), and the page's own right-hand text as a few operators in the sheet's
    embedded font (:func:`opinionkit.pdf.stamp.number_ops`). So memory and time do not
    grow with a Typst page and a form per packet page. When the sheet's glyphs cannot
    draw the page texts (a Bates prefix in a script its font lacks: the number page then
    needs several fonts), every page gets its own Typst stamp page, as before."""

    forms: list[Any]
    form_of: list[int]
    """page index -> index in ``forms``"""
    texts: list[str]
    widths: list[float]
    """page index -> layout width"""
    metrics: NumberFont | None = None
    font: Any = None
    gs: Any = None

    @classmethod
    def make(
        cls,
        out: Pdf,
        spec: StampSpec,
        sheet_pdf: bytes,
        widths: list[float],
        layout: list[tuple[float, float]],
        texts: list[str],
    ) -> _Stamps:
        page_widths = [round(w, 3) for w, _ in layout]
        sheet = Pdf.open(io.BytesIO(sheet_pdf))
        if len(sheet.pages) != len(widths) + 1:
            raise RuntimeError(f"stamp sheet has {len(sheet.pages)} pages for {len(widths)}")
        resources = sheet.pages[-1].obj.get("/Resources", Dictionary())
        fonts: Any = resources.get("/Font")
        states: Any = resources.get("/ExtGState")
        metrics: NumberFont | None = None
        font: Any = None
        gs: Any = None
        if _is_dict(fonts) and _is_dict(states) and len(fonts) == 1 and len(states) == 1:
            font, gs = next(iter(fonts.values())), next(iter(states.values()))
            metrics = number_font(font)
        if metrics is None or not metrics.covers("".join(set("".join(texts)))):
            rendered = render_stamps(spec, list(zip(page_widths, texts, strict=True)))
            forms = _stamp_forms(out, rendered, len(texts))
            return cls(forms, list(range(len(texts))), [], page_widths)
        pages = sheet.pages[:-1]
        made = [p.as_form_xobject(handle_transformations=False) for p in pages]
        copied = list(out.copy_foreign(sheet.make_indirect(Array([*made, font, gs]))))
        font_ref, gs_ref = (o if o.is_indirect else out.make_indirect(o) for o in copied[-2:])
        where = {w: k for k, w in enumerate(widths)}
        return cls(
            copied[:-2],
            [where[w] for w in page_widths],
            texts,
            page_widths,
            metrics,
            font_ref,
            gs_ref,
        )

    def number(self, i: int, font_name: str, gs_name: str) -> bytes | None:
        if self.metrics is None:
            return None
        return number_ops(self.texts[i], self.widths[i], self.metrics, font_name, gs_name)


def _with_entry(resources: Dictionary, key: str, base: str, value: Any) -> str:
    """Add ``value`` to the ``key`` subdictionary of ``resources`` (a fresh copy, so a
    dictionary the page shares is never changed) under an unused name; returns the name."""
    sub = resources.get(key)
    new = Dictionary(dict(sub.items())) if _is_dict(sub) else Dictionary()
    name = _unique_name(new, base)
    new[name] = value
    resources[key] = new
    return name


def _stamp_page(
    out: Pdf,
    page: Any,
    stamps: _Stamps,
    i: int,
    box: VisualBox,
    scale: float,
    q_ref: Any,
    extra: list[tuple[Any, str]],
) -> None:
    resources = page.get("/Resources")
    new_res = Dictionary(dict(resources.items())) if _is_dict(resources) else Dictionary()
    xobjects = new_res.get("/XObject")
    new_xo = Dictionary(dict(xobjects.items())) if _is_dict(xobjects) else Dictionary()
    ops = [b"\nQ\n"]
    for ref, cm in extra:
        name = _unique_name(new_xo, "/OkField")
        new_xo[name] = ref
        ops.append(f"q {cm} cm {name} Do Q\n".encode())
    stamp_name = _unique_name(new_xo, "/OkStamp")
    new_xo[stamp_name] = stamps.forms[stamps.form_of[i]]
    placed = _fmt(placement_matrix(box, scale))
    ops.append(f"q {placed} cm {stamp_name} Do Q\n".encode())
    new_res.XObject = new_xo
    if stamps.metrics is not None:
        font_name = _with_entry(new_res, "/Font", "/OkStampF", stamps.font)
        gs_name = _with_entry(new_res, "/ExtGState", "/OkStampGS", stamps.gs)
        number = stamps.number(i, font_name, gs_name)
        ops.append(b"q " + placed.encode() + b" cm " + (number or b"") + b" Q\n")
    page.Resources = new_res
    contents = page.get("/Contents")
    if isinstance(contents, Stream):
        old = [contents]
    elif isinstance(contents, Array):
        old = [c for c in contents if isinstance(c, Stream)]
    else:
        old = []
    page.Contents = Array([q_ref, *old, out.make_stream(b"".join(ops))])


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


class _HashingSink(io.RawIOBase):
    """Passes the bytes it is given on to ``out`` and hashes them. Sits behind an
    :class:`io.BufferedWriter`: qpdf hands over ~1.5 KB at a time, and a Python ``write``
    for each of those would cost more than the hashing.

    When ``out`` is a regular file (on Linux), the hashing is done by a small child that
    reads back what was written (from the page cache) while qpdf serialises the rest, on
    the other core: SHA-256 of the 190 MB reference packet is ~0.14 s. A thread could not
    do it: pikepdf holds the GIL while qpdf serialises. Otherwise (or if the child fails)
    the bytes are hashed here."""

    CHUNK = 4 << 20

    def __init__(self, out: BinaryIO) -> None:
        super().__init__()
        self._out = out
        self._sha256 = hashlib.sha256()
        self._child = _ForkedHasher.start(out)
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        # a raw file may take fewer bytes than offered: the BufferedWriter in front of
        # this sink offers the rest again, so only what was taken is counted and hashed
        taken = self._out.write(view)
        n = len(view) if taken is None else taken
        if self._child is not None:
            self._out.flush()
            self._child.written(self.size + n)
        else:
            self._sha256.update(view[:n])
        self.size += n
        return n

    def finish(self) -> str:
        """The hex SHA-256 of everything written (waits for the child, if any)."""
        if self._child is not None:
            child, self._child = self._child, None
            try:
                digest = child.finish(self.size)
                if digest is not None:
                    return digest
                self._sha256 = child.rehash(self.size)
            finally:
                child.close()
        return self._sha256.hexdigest()

    def abandon(self) -> None:
        """After a failure: stop the child without waiting for a digest."""
        if self._child is not None:
            self._child.kill()
            self._child = None


class _ForkedHasher:
    """A small child process hashing a file as it grows: told each new size over a pipe,
    it reads (``pread``) and hashes up to it; told the final size, it sends back the hex
    digest. It is a fresh, minimal interpreter (``python -I -S``, hashlib only: ~10 MB),
    not a fork: a fork made while the packet is written would share, and be counted
    with, the whole heap of the merge (30-190 MB). Its death with the parent is its
    pipe closing."""

    def __init__(
        self, fd: int, start: int, proc: subprocess.Popen[bytes], progress: int, result: int
    ) -> None:
        self._fd, self._start, self._proc, self._pid = fd, start, proc, proc.pid
        self._progress, self._result = progress, result

    @classmethod
    def start(cls, out: BinaryIO) -> _ForkedHasher | None:
        if not os.path.isdir("/proc/self/fd") or not sys.executable:
            return None
        try:
            import fcntl  # POSIX only

            out.flush()
            fd = out.fileno()
            if not stat.S_ISREG(os.fstat(fd).st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & (
                os.O_APPEND
            ):
                return None
            start = os.lseek(fd, 0, os.SEEK_CUR)
            # The output may be open for writing only: read it through a second
            # descriptor (Linux's /proc; elsewhere the bytes are hashed as they pass).
            fd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except (ImportError, OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return None
        progress_r, progress_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-S",
                    "-c",
                    _HASH_CHILD,
                    str(fd),
                    str(start),
                    str(progress_r),
                    str(result_w),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(fd, progress_r, result_w),
                close_fds=True,
            )
        except OSError:
            for end in (fd, progress_r, progress_w, result_r, result_w):
                os.close(end)
            return None
        finally:
            with contextlib.suppress(OSError):
                os.close(progress_r)
            with contextlib.suppress(OSError):
                os.close(result_w)
        return cls(fd, start, proc, progress_w, result_r)

    def written(self, size: int) -> None:
        with contextlib.suppress(OSError):  # a dead child: finish() notices
            os.write(self._progress, struct.pack("<q", size))

    def finish(self, size: int) -> str | None:
        """The child's digest of the first ``size`` bytes, or None if it failed."""
        digest = b""
        try:
            os.write(self._progress, struct.pack("<q", -1 - size))
            os.close(self._progress)
            while len(digest) < 64 and (chunk := os.read(self._result, 64 - len(digest))):
                digest += chunk
        except OSError:
            digest = b""
        finally:
            self._reap()
        return digest.decode("ascii") if len(digest) == 64 else None

    def rehash(self, size: int) -> Any:
        """The hash of the written bytes read back here (when the child failed)."""
        sha, offset, end = hashlib.sha256(), self._start, self._start + size
        while offset < end:
            block = os.pread(self._fd, min(_HashingSink.CHUNK, end - offset), offset)
            if not block:
                break
            sha.update(block)
            offset += len(block)
        return sha

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        self.close()

    def _reap(self) -> None:
        """Close the pipes and wait for the child (the read descriptor stays open)."""
        with contextlib.suppress(OSError):
            os.close(self._progress)
        with contextlib.suppress(OSError):
            os.close(self._result)
        with contextlib.suppress(OSError, ChildProcessError):
            self._proc.wait()

    def close(self) -> None:
        self._reap()
        with contextlib.suppress(OSError):
            os.close(self._fd)


_HASH_CHILD = """
import hashlib, os, struct, sys
fd, start, progress, result = (int(a) for a in sys.argv[1:5])
sha, offset, pending = hashlib.sha256(), start, b""
while True:
    chunk = os.read(progress, 4096)
    if not chunk:
        sys.exit(1)  # the parent went away without a final size
    pending += chunk
    final, target = None, offset - start
    while len(pending) >= 8:
        (value,) = struct.unpack("<q", pending[:8])
        pending = pending[8:]
        if value < 0:
            final = target = -1 - value
        else:
            target = max(target, value)
    end = start + target
    while offset < end:
        block = os.pread(fd, min(4 << 20, end - offset), offset)
        if not block:
            sys.exit(1)
        sha.update(block)
        offset += len(block)
    if final is not None:
        os.write(result, sha.hexdigest().encode("ascii"))
        sys.exit(0)
"""
"""The hasher child's program: hash [start, start + size) as sizes arrive on the
progress pipe; the final one comes negated (-1 - size), and the hex digest goes back."""


# --------------------------------------------------------------------------- assemble


class _NullSink(io.RawIOBase):
    """Counts what is written and keeps none of it (a trial write)."""

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return len(memoryview(data))


_WRITE_OPTIONS: dict[str, Any] = {
    # compress_streams would make qpdf inflate and re-deflate every stream with a filter
    # array (a nested Flate bomb: 1 GiB through zlib); only our own few-byte streams are
    # uncompressed.
    "compress_streams": False,
    # a classic cross-reference table: read by every viewer and records system
    "object_stream_mode": pikepdf.ObjectStreamMode.disable,
    "fix_metadata_version": False,
}
"""How the packet is written (and a record's trial write, :func:`merge_problem`)."""


def merge_problem(path: Path, password: str | None = None, *, write: bool = True) -> str | None:
    """Why the PDF at ``path`` cannot be merged into a packet, or None when it can.

    Judged the way :func:`assemble` meets a record: opened as a source (qpdf's job
    interface, with ``password``), its page tree and navigation read, and (``write``) its
    pages copied into an empty document that is written to nowhere, which reads every
    stream the packet would carry, raw (never decoded: a decompression bomb costs its
    compressed size). ``check`` runs this in its bounded workers, so that what ``bundle``
    would refuse is reported before. The reason names no content of the file."""
    part = Part(path.name, None, path, password=password)
    with quiet_pikepdf(), warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.simplefilter("ignore")  # pikepdf's remarks on what the packet drops anyway
        try:
            source = _open_source(part, 0, lazy=True)
            stack.callback(source.close)
            with _damaged(part, 0):
                src_pages = [p.obj for p in source.pages]
                for obj in src_pages:
                    if "/Parent" in obj:
                        _push_inherited(obj)
                _navigation(source, src_pages, True)
                if write:
                    trial = stack.enter_context(Pdf.new())
                    copied = [trial.copy_foreign(src) for src in src_pages]
                    tree = trial.Root.Pages
                    for page in copied:
                        page.Parent = tree
                    tree.Kids = Array(copied)
                    tree.Count = len(copied)
                    trial.save(
                        _NullSink(),  # type: ignore[arg-type]
                        stream_decode_level=pikepdf.StreamDecodeLevel.none,
                        static_id=True,
                        **_WRITE_OPTIONS,
                    )
        except PartError as exc:
            return exc.message.split(": ", 1)[-1]
        except READ_ERRORS as exc:
            return f"damaged PDF ({type(exc).__name__})"
    return None


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
    # The output's hasher starts now, while this process is small: a child started
    # once the merge's heap has grown is, until it has exec'd, a copy of it.
    sink = _HashingSink(out)
    try:
        # Sources close after the output (their stream data is read while it is written).
        with quiet_pikepdf(), contextlib.ExitStack() as sources, Pdf.new() as pdf:
            return _assemble(
                pdf,
                sources,
                parts,
                stamp=stamp,
                metadata=metadata,
                sink=sink,
                first_page_number=first_page_number,
                total_pages=total_pages,
                encrypt_password=encrypt_password,
            )
    finally:
        sink.abandon()  # after a failure (nothing left to do once finished)


def _assemble(
    pdf: Pdf,
    sources: contextlib.ExitStack,
    parts: Sequence[Part],
    *,
    stamp: StampSpec,
    metadata: Mapping[str, str],
    sink: _HashingSink,
    first_page_number: int,
    total_pages: int | None,
    encrypt_password: str | None,
) -> AssembleResult:
    result_parts: list[PartPages] = []
    dropped: list[tuple[int, str]] = []
    draws: dict[int, list[tuple[Any, str]]] = {}
    copied: list[Any] = []  # the packet's page dictionaries, in order
    seen_pages: set[tuple[int, int]] = set()

    # ---- open every part and read its pages (nothing copied yet)
    opened: list[tuple[int, Part, list[Any], Callable[[str], None]]] = []
    # The sources, until their pages are copied. A copy's stream data is read, while the
    # packet is written, through the source's file (which stays open), not through its
    # Pdf: dropping the Pdf once its pages are copied frees its parsed objects (about
    # 70 MB of 180 at 9,300 pages), and the output is byte-identical.
    held: dict[int, Pdf] = {}
    sources.callback(_close_all, held)  # after a failure, whatever is still held
    lazy_limit = lazy_source_limit()
    marks: dict[int, list[Mark]] = {}  # part index -> the source's own bookmarks
    for index, part in enumerate(parts):
        seen: set[str] = set()

        def note(what: str, index: int = index, seen: set[str] = seen) -> None:
            if what not in seen:
                seen.add(what)
                dropped.append((index, what))

        source = _open_source(part, index, lazy=index < lazy_limit)
        held[index] = source
        with _damaged(part, index):
            for what in _catalog_drops(source):
                note(what)
            src_pages = [p.obj for p in source.pages]
            for obj in src_pages:
                if "/Parent" in obj:
                    _push_inherited(obj)
            opened.append((index, part, src_pages, note))
        marks[index] = _navigation(source, src_pages, part.bookmarks)

    n = sum(len(src_pages) for _, _, src_pages, _ in opened)
    total = total_pages if total_pages is not None else first_page_number + n - 1
    if total < first_page_number + n - 1:
        raise ValueError("total_pages is smaller than the last page number of this output")

    # ---- stamps: Typst lays out the sheet (one form per page width) in a child or on a
    # helper thread (it releases the GIL) while the pages are copied; a copy has its
    # source's boxes
    boxes: list[VisualBox] = []
    for index, part, src_pages, _ in opened:
        with _damaged(part, index):
            boxes.extend(_page_box(obj) for obj in src_pages)
    layout = [render_width(b) for b in boxes]
    texts = [right_text(stamp, first_page_number + i, total, i) for i in range(n)]
    widths = sorted({round(w, 3) for w, _ in layout})
    # (in a fork when that is safe, so Typst's fonts and caches leave with it)
    rendering = typstproc.start(render_sheet, stamp, widths) if n else None
    try:
        # ---- copy the pages
        while opened:
            index, part, src_pages, noted = opened.pop(0)
            start = len(copied)
            with _damaged(part, index):
                for src in src_pages:
                    # Each page is copied on its own (qpdf never follows a reference from
                    # one page into another); the page tree is built once at the end:
                    # pdf.pages.extend costs O(n) a page, minutes for 10 000 pages.
                    page = pdf.copy_foreign(src)
                    if page.objgen in seen_pages:  # a page tree listing a page twice
                        page = pdf.make_indirect(Dictionary(dict(page.items())))
                    seen_pages.add(page.objgen)
                    page_draws = _clean_page(page, noted)
                    if page_draws:
                        draws[len(copied)] = page_draws
                    copied.append(page)
            del src_pages  # the last references to the source's objects, then the source
            held.pop(index, None)
            count = len(copied) - start
            printed_start = first_page_number + start
            result_parts.append(
                PartPages(
                    index, part.title, part.group, range(printed_start, printed_start + count)
                )
            )
    except BaseException:
        if rendering is not None:
            rendering.cancel()
        raise
    sheet_pdf = rendering.result() if rendering is not None else b""

    tree = pdf.Root.Pages
    for page in copied:
        page.Parent = tree
    tree.Kids = Array(copied)
    tree.Count = len(copied)
    pages = list(pdf.pages)
    if n:
        stamps = _Stamps.make(pdf, stamp, sheet_pdf, widths, layout, texts)
        q_ref = pdf.make_stream(b"q\n")
        for i, obj in enumerate(copied):
            _stamp_page(pdf, obj, stamps, i, boxes[i], layout[i][1], q_ref, draws.get(i, []))

    # ---- internal links
    unresolved = _rewrite_links(pages, first_page_number)

    # ---- page labels, bookmarks, metadata
    if n:
        pdf.Root.PageLabels = Dictionary(
            Nums=Array([0, Dictionary(S=Name.D, St=first_page_number)])
        )
    bookmarks = _add_bookmarks(pdf, result_parts, first_page_number, pages, marks)
    if bookmarks:  # a viewer opens the packet with its bookmarks shown
        pdf.Root.PageMode = Name.UseOutlines
    # ... and its title bar shows the packet's title, not the file name
    pdf.Root.ViewerPreferences = Dictionary(DisplayDocTitle=True)
    info = {"/Producer": f"opinionkit {__version__}"}
    for key, value in metadata.items():
        info["/" + key.lstrip("/")] = value
    pdf.trailer.Info = pdf.make_indirect(Dictionary({k: String(v) for k, v in info.items()}))

    # ---- deterministic ID, optional encryption, write
    doc_id = _document_id(
        parts, stamp, metadata, first_page_number, total, encrypt_password is not None
    )
    pdf.trailer.ID = Array([String(doc_id), String(doc_id)])
    if encrypt_password is None:
        # Streams pass through undecoded. static_id: qpdf keeps our content-derived first
        # /ID entry and writes a fixed second one, instead of an MD5 pass over the whole
        # output (deterministic_id), which cost ~0.3 s on the 190 MB reference packet.
        options: dict[str, Any] = {
            "stream_decode_level": pikepdf.StreamDecodeLevel.none,
            "static_id": True,
        }
    else:
        # qpdf re-encrypts every stream's bytes as they are: still filtered, never
        # decoded (an LZW or Flate bomb stays a few kilobytes here too; tested). pikepdf
        # refuses a stream_decode_level with encryption: its default is what does this.
        options = {
            "encryption": pikepdf.Encryption(owner=encrypt_password, user=encrypt_password, R=6)
        }
    buffered = io.BufferedWriter(sink, buffer_size=_HashingSink.CHUNK)
    try:
        pdf.save(buffered, **_WRITE_OPTIONS, **options)
        buffered.flush()
        digest = sink.finish()
    except pikepdf.PdfError as exc:  # a source's data is read now, while writing
        raise InputError(
            f"a record could not be read while the packet was written ({type(exc).__name__})"
        ) from None
    finally:
        with contextlib.suppress(Exception):  # after a failure the output is discarded
            buffered.close()
    return AssembleResult(
        parts=result_parts,
        page_count=n,
        first_page_number=first_page_number,
        total_pages=total,
        bookmarks=bookmarks,
        dropped=dropped,
        unresolved_links=unresolved,
        document_id=doc_id.hex(),
        sha256=digest,
        size=sink.size,
    )


_LINK_RE = re.compile(r"^opinionkit:page/(\d{1,9})$")


def _rewrite_links(pages: list[pikepdf.Page], first: int) -> list[tuple[int, str]]:
    unresolved: list[tuple[int, str]] = []
    for i, page in enumerate(pages):
        annots = page.obj.get("/Annots")
        if not isinstance(annots, Array):
            continue
        for annot in annots:
            if not _is_dict(annot) or annot.get("/Subtype") != Name.Link:
                continue
            action = annot.get("/A")
            if not _is_dict(action) or action.get("/S") != Name.URI:
                continue
            uri = action.get("/URI")
            if not isinstance(uri, String):
                continue
            uri_text = bytes(uri).decode("latin-1")
            if not uri_text.startswith(LINK_PREFIX):
                continue
            m = _LINK_RE.match(uri_text)
            target = int(m.group(1)) - first if m else -1
            if 0 <= target < len(pages):
                annot.A = Dictionary(S=Name.GoTo, D=Array([pages[target].obj, Name.Fit]))
                if "/Contents" in annot:  # Typst's alternate text repeats the URI
                    annot.Contents = String(f"Go to page {target + first}")
            else:
                del annot["/A"]
                if "/Contents" in annot:
                    del annot["/Contents"]
                unresolved.append((first + i, uri_text))
    return unresolved


def _navigation(source: Pdf, src_pages: list[Any], with_bookmarks: bool) -> list[Mark]:
    """Make the source's internal links explicit (on its own pages) and read its
    bookmarks; a source whose navigation cannot be read is merged without it."""
    try:
        dests = Destinations(source, src_pages)
        for obj in src_pages:
            fix_links(obj, dests)
        return read_outline(source, dests) if with_bookmarks else []
    except READ_ERRORS:
        return []


def _mark_items(
    marks: Sequence[Mark], pages: list[pikepdf.Page], offset: int, count: int, path: str
) -> tuple[list[pikepdf.OutlineItem], list[str]]:
    """Outline items for a part's own bookmarks (its first page is ``pages[offset]``)."""
    items: list[pikepdf.OutlineItem] = []
    written: list[str] = []
    for mark in marks:
        if mark.target.page >= count:
            continue
        dest = Array([pages[offset + mark.target.page].obj, *mark.target.view])
        item = pikepdf.OutlineItem(mark.title, dest)
        written.append(f"{path}/{mark.title}")
        children, below = _mark_items(mark.children, pages, offset, count, written[-1])
        item.children.extend(children)
        written.extend(below)
        items.append(item)
    return items, written


def _add_bookmarks(
    pdf: Pdf,
    parts: list[PartPages],
    first: int,
    pages: list[pikepdf.Page],
    marks: Mapping[int, list[Mark]],
) -> list[str]:
    written: list[str] = []
    groups: dict[str, pikepdf.OutlineItem] = {}
    with pdf.open_outline() as outline:
        for part in parts:
            if part.first is None:
                continue
            index = part.first - first
            item = pikepdf.OutlineItem(part.title, index, pikepdf.PageLocation.Fit)
            path = part.title if part.group is None else f"{part.group}/{part.title}"
            own, below = _mark_items(marks.get(part.index, []), pages, index, len(part.pages), path)
            item.children.extend(own)
            item.is_closed = bool(own)  # the record's own bookmarks: shown when opened
            if part.group is None:
                outline.root.append(item)
                written.append(part.title)
                written.extend(below)
                continue
            parent = groups.get(part.group)
            if parent is None:
                parent = pikepdf.OutlineItem(part.group, index, pikepdf.PageLocation.Fit)
                outline.root.append(parent)
                groups[part.group] = parent
                written.append(part.group)
            parent.children.append(item)
            written.append(path)
            written.extend(below)
    return written

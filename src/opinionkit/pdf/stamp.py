"""The footer stamp printed on every packet page.

How it works (no existing content stream is ever parsed or rewritten):

1. :func:`render_stamps` renders *all* stamps of a packet with Typst in one document: one
   small page (``width x STAMP_HEIGHT`` points) per packet page. Typst embeds each font
   once (subset) and every stamp page refers to the same font objects.
2. The caller turns stamp page *i* into a Form XObject (its already-compressed content
   stream plus its resources) and draws it on packet page *i* with one ``cm`` matrix from
   :func:`placement_matrix`, which puts the stamp at the **visual** bottom of the page,
   upright, whatever the page's ``/Rotate`` (0/90/180/270 and non-normalised values such
   as 360 or -90) and wherever its CropBox starts.

Fonts: the shipped ones only (:mod:`opinionkit.render.fonts`): Typst's embedded Latin fonts
and Noto Sans CJK, in the face for the left text's script (``StampSpec.face`` for Han-only
text: the case's face). No system font is used unless ``StampSpec.system_fonts=True``, so
a stamp is byte-identical from machine to machine; ``StampSpec.font_paths`` adds font
folders. A character no shipped font has prints as an empty box (``check`` reports it as
``render.missing-glyph``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opinionkit.render import fonts

__all__ = [
    "STAMP_HEIGHT",
    "StampSpec",
    "VisualBox",
    "placement_matrix",
    "render_stamps",
    "right_text",
    "visual_box",
]

STAMP_HEIGHT = 26.0
"""Height of a stamp page in points, before scaling. The text sits in its lower part,
about 10 pt above the page edge, clear of most printers' unprintable margin."""

_MIN_RENDER_WIDTH = 420.0
"""Narrower pages get a stamp laid out at this width and scaled down to fit."""
_MAX_RENDER_WIDTH = 1224.0
"""Wider pages (posters, plotter output) get a stamp laid out at this width, scaled up."""

_TYPST_SOURCE = r"""
#let stamps = json(bytes(sys.inputs.at("stamps")))
#let left-text = sys.inputs.at("left")
#set document(title: none)
#set text(
  font: __FONTS__,
  size: 7pt, fallback: true, hyphenate: false, fill: black,
)
#set par(justify: false)
#set page(margin: 0pt, height: __HEIGHT__pt)
#let tag(body) = box(fill: white.transparentize(12%), inset: (x: 2pt, y: 1.2pt), body)
// Two placed boxes, not a grid: half the layout time over hundreds of stamp pages. The
// left text gets the width the right text ("Page 10000 of 10000  PREFIX000001") can
// never need; the Form XObject's BBox clips anything outside the stamp. An entry is
// [width, right text or none, with the left text]: a sheet of forms has no right text
// (drawn per page by number_ops) and ends with one page of the glyphs it needs.
#for s in stamps {
  page(width: s.at(0) * 1pt, {
    if s.at(2) {
      place(bottom + left, dx: 18pt, dy: -9pt,
        box(width: s.at(0) * 1pt - 36pt - 160pt, tag(left-text)))
    }
    if s.at(1) != none { place(bottom + right, dx: -18pt, dy: -9pt, tag(s.at(1))) }
  })
}
"""


@dataclass(frozen=True)
class StampSpec:
    """What the footer says.

    The left side prints ``left`` verbatim (any Unicode; the caller decides what patient
    data goes there). The right side prints ``Page 37 of 812`` and, when ``bates_prefix``
    is set, ``  DOE000037`` (prefix + six-digit counter starting at ``bates_start`` on the
    first page of *this* output, i.e. it follows the packet page order).
    """

    left: str
    bates_prefix: str | None = None
    bates_start: int = 1
    system_fonts: bool = False
    font_paths: tuple[Path, ...] = field(default=())
    face: fonts.Face | None = None
    """The CJK face for Han-only text (the case's, :func:`fonts.case_face`); None: SC.
    Text with kana or hangul takes the Japanese or Korean face whatever this says."""

    def font_stack(self) -> str:
        """The Typst array of font families the stamp is set in."""
        default = self.face or fonts.DEFAULT_FACE
        return fonts.typst_fonts(fonts.stack(fonts.face_for(self.left, default)))


@dataclass(frozen=True)
class VisualBox:
    """The visible page area in user space, and the normalised rotation (0/90/180/270)."""

    x0: float
    y0: float
    x1: float
    y1: float
    rotate: int

    @property
    def visual_width(self) -> float:
        w, h = self.x1 - self.x0, self.y1 - self.y0
        return h if self.rotate in (90, 270) else w


def _box(obj: Any) -> tuple[float, float, float, float] | None:
    try:
        a, b, c, d = (float(v) for v in obj)
    except (TypeError, ValueError):
        return None
    return min(a, c), min(b, d), max(a, c), max(b, d)


def visual_box(page: Any) -> VisualBox:
    """The CropBox (clipped to the MediaBox, as viewers do) and the rotation of ``page``.

    ``page`` is a pypdf page dictionary; inherited attributes must already be on it
    (pypdf's reader copies them onto each page).
    """
    media = _box(page.get("/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _box(page.get("/CropBox")) or media
    x0, y0 = max(crop[0], media[0]), max(crop[1], media[1])
    x1, y1 = min(crop[2], media[2]), min(crop[3], media[3])
    if x1 - x0 < 1 or y1 - y0 < 1:  # disjoint or degenerate boxes: fall back to MediaBox
        x0, y0, x1, y1 = media
    if x1 - x0 < 1 or y1 - y0 < 1:
        x0, y0, x1, y1 = 0.0, 0.0, 612.0, 792.0
    try:
        rot = int(page.get("/Rotate", 0) or 0)
    except (TypeError, ValueError):
        rot = 0
    rot %= 360
    if rot % 90:
        rot = 0  # invalid per the spec; viewers ignore it
    return VisualBox(x0, y0, x1, y1, rot)


def render_width(box: VisualBox) -> tuple[float, float]:
    """(width to lay the stamp out at, scale factor to apply when placing it)."""
    w = box.visual_width
    if w < _MIN_RENDER_WIDTH:
        return _MIN_RENDER_WIDTH, w / _MIN_RENDER_WIDTH
    if w > _MAX_RENDER_WIDTH:
        return _MAX_RENDER_WIDTH, w / _MAX_RENDER_WIDTH
    return w, 1.0


def placement_matrix(
    box: VisualBox, scale: float
) -> tuple[float, float, float, float, float, float]:
    """``cm`` operands mapping stamp space (origin bottom-left, x to the right) to user space.

    The result puts the stamp's bottom-left corner at the visual bottom-left corner of
    the page and its x axis along the visual bottom edge, reading left to right.
    """
    s = scale
    if box.rotate == 90:  # displayed turned clockwise: user +y reads rightwards, bottom is x1
        return (0.0, s, -s, 0.0, box.x1, box.y0)
    if box.rotate == 180:
        return (-s, 0.0, 0.0, -s, box.x1, box.y1)
    if box.rotate == 270:
        return (0.0, -s, s, 0.0, box.x0, box.y1)
    return (s, 0.0, 0.0, s, box.x0, box.y0)


def right_text(spec: StampSpec, printed: int, total: int, index: int) -> str:
    """The right-hand stamp text for the page printed as ``printed`` (0-based ``index``)."""
    text = f"Page {printed} of {total}"
    if spec.bates_prefix is not None:
        text += f"  {spec.bates_prefix}{spec.bates_start + index:06d}"
    return text


@functools.lru_cache(maxsize=4)
def _compiler(system_fonts: bool, font_paths: tuple[str, ...]) -> Any:
    if not system_fonts:
        return fonts.compiler(font_paths)
    import typst  # loaded on first use: see opinionkit.typstproc.typst_used

    return typst.Compiler(
        font_paths=[*(str(d) for d in fonts.font_dirs()), *font_paths], ignore_system_fonts=False
    )


def render_stamps(spec: StampSpec, pages: Sequence[tuple[float, str]]) -> bytes:
    """Render one stamp page per ``(layout width, right text)`` and return the Typst PDF
    (the fallback when the page numbers cannot be drawn by :func:`number_ops`)."""
    return _compile(spec, [[round(w, 3), r, True] for w, r in pages])


def number_chars(spec: StampSpec) -> str:
    """Every character a right-hand text of ``spec`` can hold."""
    return "".join(sorted(set("Page of 0123456789" + (spec.bates_prefix or ""))))


def render_sheet(spec: StampSpec, widths: Sequence[float]) -> bytes:
    """Render the stamp *sheet*: one page per distinct layout width with the left text
    only (each becomes one Form XObject, shared by every page of that width), then one
    page with every character of :func:`number_chars`, spaced so that none forms a
    ligature: the page numbers drawn by :func:`number_ops` use its glyphs, so they are in
    the embedded subset."""
    sample = " ".join(number_chars(spec))
    return _compile(spec, [*([round(w, 3), None, True] for w in widths), [1224, sample, False]])


def _compile(spec: StampSpec, entries: list[list[Any]]) -> bytes:
    source = (
        _TYPST_SOURCE.replace("__HEIGHT__", f"{STAMP_HEIGHT:g}")
        .replace("__FONTS__", spec.font_stack())
        .encode()
    )
    compiler = _compiler(spec.system_fonts, tuple(str(p) for p in spec.font_paths))
    inputs = {"left": spec.left, "stamps": json.dumps(entries)}
    pdf = compiler.compile(
        input=source, format="pdf", sys_inputs=inputs, timestamp=0, pdf_tags=False
    )
    assert isinstance(pdf, bytes)
    return pdf


# The right-hand tag as Typst lays it out (``tag`` and ``place`` in _TYPST_SOURCE): 7 pt
# text whose box runs from 1.2 pt below the baseline to 1.2 pt above the cap height,
# 2 pt wider than the text on each side, its bottom 9 pt above the stamp's and its right
# edge 18 pt inside the stamp's.
_SIZE, _INSET_X, _INSET_Y, _EDGE_X, _EDGE_Y = 7.0, 2.0, 1.2, 18.0, 9.0

_CMAP_CHAR = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>")
_CMAP_RANGE = re.compile(rb"<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]{4})>\s*<([0-9A-Fa-f]+)>")


@dataclass(frozen=True)
class NumberFont:
    """What drawing text in one embedded (Identity-H) font of the sheet needs."""

    codes: dict[str, int]
    """character -> CID (from the font's ToUnicode map)"""
    widths: dict[int, float]
    """CID -> advance in 1/1000 em"""
    cap_height: float
    """in 1/1000 em"""

    def covers(self, chars: str) -> bool:
        return all(c in self.codes and self.codes[c] in self.widths for c in chars)


def number_font(font: Any) -> NumberFont | None:
    """The metrics of a Typst-embedded Type0 font (a pikepdf dictionary), or None when it
    is not the kind :func:`number_ops` can draw with."""
    try:
        if str(font.get("/Subtype")) != "/Type0" or str(font.get("/Encoding")) != "/Identity-H":
            return None
        cid_font = font.DescendantFonts[0]
        cap = float(cid_font.FontDescriptor.CapHeight)
        cmap = font.ToUnicode.read_bytes()
        raw_w = list(cid_font.get("/W", []))
    except (AttributeError, KeyError, IndexError, TypeError, ValueError):
        return None
    codes: dict[str, int] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for cid, uni in _CMAP_CHAR.findall(block):
            text = bytes.fromhex(uni.decode()).decode("utf-16-be", "replace")
            if len(text) == 1:
                codes.setdefault(text, int(cid, 16))
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for lo, hi, uni in _CMAP_RANGE.findall(block):
            first = bytes.fromhex(uni.decode()).decode("utf-16-be", "replace")
            if len(first) == 1:
                for k in range(int(hi, 16) - int(lo, 16) + 1):
                    codes.setdefault(chr(ord(first) + k), int(lo, 16) + k)
    widths: dict[int, float] = {}
    i = 0
    try:
        while i < len(raw_w):
            start = int(raw_w[i])
            nxt = raw_w[i + 1]
            if isinstance(nxt, int) or not hasattr(nxt, "__iter__"):
                for cid in range(start, int(nxt) + 1):
                    widths[cid] = float(raw_w[i + 2])
                i += 3
            else:
                for k, w in enumerate(nxt):
                    widths[start + k] = float(w)
                i += 2
    except (IndexError, TypeError, ValueError):
        return None
    return NumberFont(codes, widths, cap)


def number_ops(text: str, width: float, font: NumberFont, font_name: str, gs_name: str) -> bytes:
    """Content-stream operators drawing the right-hand tag ``text`` in stamp space (for a
    stamp laid out ``width`` wide) as Typst would: its translucent white box, then the
    text in ``font_name`` (every character must be covered: :meth:`NumberFont.covers`)."""
    cids = [font.codes[c] for c in text]
    text_w = sum(font.widths[c] for c in cids) * _SIZE / 1000
    box_w = text_w + 2 * _INSET_X
    box_h = font.cap_height * _SIZE / 1000 + 2 * _INSET_Y
    x = width - _EDGE_X - box_w
    hexed = "".join(f"{c:04x}" for c in cids)
    return (
        f"0 0 {_num(width)} {STAMP_HEIGHT:g} re W n "
        f"q {gs_name} gs 1 g {_num(x)} {_EDGE_Y:g} {_num(box_w)} {_num(box_h)} re f Q "
        f"0 g BT {font_name} {_SIZE:g} Tf {_num(x + _INSET_X)} {_EDGE_Y + _INSET_Y:g} Td "
        f"<{hexed}> Tj ET"
    ).encode("ascii")


def _num(v: float) -> str:
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s

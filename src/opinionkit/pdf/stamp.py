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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typst

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
// never need; the Form XObject's BBox clips anything outside the stamp.
#for s in stamps {
  page(width: s.at(0) * 1pt, {
    place(bottom + left, dx: 18pt, dy: -9pt,
      box(width: s.at(0) * 1pt - 36pt - 160pt, tag(left-text)))
    place(bottom + right, dx: -18pt, dy: -9pt, tag(s.at(1)))
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
    return typst.Compiler(
        font_paths=[*(str(d) for d in fonts.font_dirs()), *font_paths], ignore_system_fonts=False
    )


def render_stamps(spec: StampSpec, pages: Sequence[tuple[float, str]]) -> bytes:
    """Render one stamp page per ``(layout width, right text)`` and return the Typst PDF."""
    source = (
        _TYPST_SOURCE.replace("__HEIGHT__", f"{STAMP_HEIGHT:g}")
        .replace("__FONTS__", spec.font_stack())
        .encode()
    )
    compiler = _compiler(spec.system_fonts, tuple(str(p) for p in spec.font_paths))
    inputs = {
        "left": spec.left,
        "stamps": json.dumps([[round(w, 3), r] for w, r in pages]),
    }
    pdf = compiler.compile(
        input=source, format="pdf", sys_inputs=inputs, timestamp=0, pdf_tags=False
    )
    assert isinstance(pdf, bytes)
    return pdf

"""An invisible text layer for scanned pages, from what OCR read: the packet's scans
become searchable and their text can be copied, as OCRmyPDF's are.

Public API::

    add_text_layer(source, password, pages) -> bytes   # pages: 0-based index -> lines
    item_text_layer(files, pdf, password) -> bytes | None

Each line OCR found is written where it was read: text render mode 3 (neither filled
nor stroked: invisible), in a glyphless font (``glyphless.ttf``, made by
``tools/make_glyphless_font.py``; every glyph empty, character codes are Unicode code
points through a ToUnicode map), its size the line box's height and its width stretched
to the box (``Tz``). The page's own content is wrapped in ``q ... Q`` and left as it
was: the images are not touched. The same lines give the same bytes.

A page turned with ``/Rotate`` gets no text layer (its rendering's coordinates are
turned too; such scans are rare); nor does a character outside the Basic Multilingual
Plane (written as U+FFFD).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pikepdf
from pikepdf import Array, Dictionary, Name

from opinionkit.inspect.ocr import OcrLine

if TYPE_CHECKING:
    from opinionkit.checks.files import FileInfo

__all__ = ["FONT_FILE", "add_text_layer", "item_text_layer", "line_operators"]

FONT_FILE = Path(__file__).with_name("glyphless.ttf")
_HEIGHT = 0.92
"""Font size as a share of the line box's height (the box has a little padding)."""
_DESCENT = 0.2
"""Where the baseline sits above the box's bottom, as a share of its height."""
_ADVANCE = 0.5
"""Every glyph's advance, in text space units per point of size (the font's /DW 500)."""

_CMAP = b"""/CIDInit /ProcSet findresource begin
12 dict begin
begincmap
/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def
/CMapName /Adobe-Identity-UCS def
/CMapType 2 def
1 begincodespacerange
<0000> <FFFF>
endcodespacerange
1 beginbfrange
<0000> <FFFF> <0000>
endbfrange
endcmap
CMapName currentdict /CMap defineresource pop
end
end
"""


def _font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    font_file = pikepdf.Stream(pdf, FONT_FILE.read_bytes())
    font_file.Length1 = len(FONT_FILE.read_bytes())
    descriptor = Dictionary(
        Type=Name.FontDescriptor,
        FontName=Name("/GlyphLessFont"),
        Flags=5,
        FontBBox=Array([0, -200, 500, 800]),
        ItalicAngle=0,
        Ascent=800,
        Descent=-200,
        CapHeight=800,
        StemV=80,
        FontFile2=font_file,
    )
    # every CID (a Unicode code point) is glyph 1: two bytes per CID, all 0x0001
    gid_map = pikepdf.Stream(pdf, zlib.compress(b"\x00\x01" * 65536, 9))
    gid_map.Filter = Name.FlateDecode
    cid_font = Dictionary(
        Type=Name.Font,
        Subtype=Name.CIDFontType2,
        BaseFont=Name("/GlyphLessFont"),
        CIDSystemInfo=Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
        FontDescriptor=pdf.make_indirect(descriptor),
        DW=500,
        CIDToGIDMap=gid_map,
    )
    font = Dictionary(
        Type=Name.Font,
        Subtype=Name.Type0,
        BaseFont=Name("/GlyphLessFont"),
        Encoding=Name("/Identity-H"),
        DescendantFonts=Array([pdf.make_indirect(cid_font)]),
        ToUnicode=pikepdf.Stream(pdf, _CMAP),
    )
    return pdf.make_indirect(font)


def _free_name(page: pikepdf.Page) -> Name:
    """A font resource name the page does not use (fixed, not random: same bytes)."""
    fonts = page.obj.get("/Resources", Dictionary()).get("/Font", Dictionary())
    n = 0
    while f"/OkOCR{n}" in fonts:
        n += 1
    return Name(f"/OkOCR{n}")


def _hex(text: str) -> str:
    return "".join(
        f"{ord(ch):04X}" if ord(ch) <= 0xFFFF and not 0xD800 <= ord(ch) <= 0xDFFF else "FFFD"
        for ch in text
    )


def line_operators(
    lines: Sequence[OcrLine], font: str, box: tuple[float, float, float, float]
) -> bytes:
    """The content-stream operators that write ``lines`` invisibly on a page whose
    visible box is ``box`` (x0, y0, x1, y1 in points)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    out = ["BT", "3 Tr"]
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        left, top, right, bottom = line.box
        h = (bottom - top) * height
        w = (right - left) * width
        if h <= 0 or w <= 0:
            continue
        size = h * _HEIGHT
        scale = 100 * w / (len(text) * _ADVANCE * size)
        x = x0 + left * width
        y = y1 - bottom * height + h * _DESCENT
        out.append(
            f"/{font} {size:.2f} Tf {scale:.2f} Tz 1 0 0 1 {x:.2f} {y:.2f} Tm <{_hex(text)}> Tj"
        )
    out.append("ET")
    return ("\n".join(out) + "\n").encode("ascii")


def add_text_layer(
    source: Path | bytes, password: str | None, pages: Mapping[int, Sequence[OcrLine]]
) -> bytes:
    """``source`` (a PDF file or its bytes) with an invisible text layer on the pages
    named in ``pages`` (0-based index -> lines), as new, unencrypted PDF bytes (the
    packet's own encryption, if any, is applied when it is written)."""
    opened = pikepdf.open(
        io.BytesIO(source) if isinstance(source, bytes) else source, password=password or ""
    )
    with opened as pdf:
        font = None
        for index, lines in sorted(pages.items()):
            if index >= len(pdf.pages) or not lines:
                continue
            page = pdf.pages[index]
            if int(page.obj.get("/Rotate", 0)) % 360:
                continue
            if font is None:
                font = _font(pdf)
            name = _free_name(page)
            page.add_resource(font, Name.Font, name)
            box = tuple(float(v) for v in page.cropbox)
            ops = line_operators(lines, str(name)[1:], (box[0], box[1], box[2], box[3]))
            page.contents_add(pikepdf.Stream(pdf, b"q\n"), prepend=True)
            layer = pikepdf.Stream(pdf, zlib.compress(b"\nQ\n" + ops, 9))
            layer.Filter = Name.FlateDecode
            page.contents_add(layer)
        out = io.BytesIO()
        pdf.save(out, deterministic_id=True, encryption=False)
        return out.getvalue()


def item_text_layer(
    files: Sequence[FileInfo], pdf: bytes | None, password: str | None
) -> bytes | None:
    """A packet item (its files in order; ``pdf``: the item as one PDF, when it is not a
    single PDF file) with the text layer OCR's lines give; None when OCR gave none."""
    pages: dict[int, Sequence[OcrLine]] = {}
    offset = 0
    for f in files:
        # the item's pages are the file's kept pages: withhold: left the others out
        kept = [n for n in range(1, (f.pages or 0) + 1) if n not in f.withheld_pages]
        where = {n: offset + i for i, n in enumerate(kept)}
        for n, lines in f.ocr_lines.items():
            if lines and n in where:
                pages[where[n]] = lines
        offset += len(kept)
    if not pages:
        return None
    if pdf is None and any(f.withheld_pages for f in files):
        raise AssertionError("an item with withheld pages is always rewritten first")
    if pdf is not None:
        return add_text_layer(pdf, None, pages)
    (only,) = files
    assert only.path is not None
    return add_text_layer(only.path, password, pages)

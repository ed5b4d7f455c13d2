"""Make src/opinionkit/pdf/glyphless.ttf: a TrueType font whose every glyph is empty.

The packet's invisible OCR text layer (text render mode 3) uses it as OCRmyPDF and
Tesseract use their "GlyphLessFont": character codes are Unicode code points (CIDs,
Identity-H), the ToUnicode map makes them searchable and copyable, and no glyph is ever
drawn. Run once with fontTools (``pip install fonttools``); the font is committed, so
opinionkit itself does not need fontTools.
"""

from pathlib import Path

from fontTools.fontBuilder import FontBuilder
from fontTools.pens.ttGlyphPen import TTGlyphPen

OUT = Path(__file__).resolve().parents[1] / "src" / "opinionkit" / "pdf" / "glyphless.ttf"


def main() -> None:
    fb = FontBuilder(1000, isTTF=True)
    # two empty glyphs: .notdef, and the one every character code is mapped to (GID 1)
    fb.setupGlyphOrder([".notdef", "blank"])
    fb.setupCharacterMap({})
    fb.setupGlyf({".notdef": TTGlyphPen(None).glyph(), "blank": TTGlyphPen(None).glyph()})
    fb.setupHorizontalMetrics({".notdef": (500, 0), "blank": (500, 0)})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "GlyphLessFont", "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost()
    fb.font["head"].created = fb.font["head"].modified = 0  # same bytes every time
    fb.save(str(OUT))
    print(OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

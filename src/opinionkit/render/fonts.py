"""The fonts every page is printed with: the one place that knows them.

Shipped fonts, and nothing else (system fonts are never used, so a packet is byte-identical
from machine to machine):

* **Latin, Greek, Cyrillic, Hebrew, Arabic** — the fonts Typst embeds in its own binary
  (Libertinus Serif, New Computer Modern, DejaVu Sans Mono): :data:`LATIN`.
* **Chinese, Japanese, Korean** — Noto Sans CJK Regular (SIL Open Font License), the
  OpenType collection shipped by the pinned PyPI package ``noto-cjk-sans-otc``. Its one
  ``.ttc`` holds a face per region, which draw the same character in that region's
  form: :data:`FACES`.

Which CJK face (:func:`face_for`): a text with kana is Japanese (JP), with hangul Korean
(KR). A text of Han characters alone could be any of them, so it takes the face of the
case (:func:`case_face`): the script of the patient's name first, then the patient's
preferred language, then the records' languages, else Simplified Chinese (SC).

A font stack (:func:`stack`) names the Latin fonts first and the CJK face after them, for
Typst's ``#set text(font: (...), fallback: true)``: Latin letters come from Libertinus
Serif, and a character it lacks from the first font that has it. :func:`compiler` is the
Typst compiler that sees exactly these fonts.

Typst draws a character no font has as an empty box and says nothing.
:func:`undrawable` finds such characters by asking Typst itself: it lays out each distinct
character with the shipped fonts and looks for glyph 0 (``.notdef``, the box) in the PDF.
That covers every shipped font, including those inside Typst's binary, which no cmap
reader (fontTools) could open, and it follows Typst's own fallback rules.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opinionkit.errors import InputError

if TYPE_CHECKING:
    import pikepdf

__all__ = [
    "CJK_PACKAGE",
    "FACES",
    "LATIN",
    "Face",
    "case_face",
    "compiler",
    "face_for",
    "face_for_language",
    "font_dirs",
    "script_face",
    "stack",
    "typst_fonts",
    "undrawable",
]

LATIN = ("Libertinus Serif", "New Computer Modern", "DejaVu Sans Mono")
"""Typst's embedded fonts, in the order text tries them (Libertinus Serif sets the body)."""

CJK_PACKAGE = "noto_cjk_sans_otc"
"""The PyPI package (``noto-cjk-sans-otc``, pinned in pyproject.toml) holding the CJK font."""

CJK_FILE = "NotoSansCJK-Regular.ttc"


class Face(str, Enum):
    """The regional faces of Noto Sans CJK."""

    SC = "SC"  # Simplified Chinese
    TC = "TC"  # Traditional Chinese (Taiwan)
    HK = "HK"  # Traditional Chinese (Hong Kong)
    JP = "JP"
    KR = "KR"


FACES = {face: f"Noto Sans CJK {face.value}" for face in Face}
"""Family name of each face inside the ``.ttc``."""

DEFAULT_FACE = Face.SC


@functools.lru_cache(maxsize=1)
def font_dirs() -> tuple[Path, ...]:
    """The folders Typst reads fonts from (beside its embedded ones): the CJK package's."""
    try:
        folder = Path(str(resources.files(CJK_PACKAGE)))
    except ModuleNotFoundError:
        folder = None
    if folder is None or not (folder / CJK_FILE).is_file():
        raise InputError(
            "the shipped CJK font (Python package noto-cjk-sans-otc) is missing from this "
            "installation",
            hint="reinstall opinionkit",
        )
    return (folder,)


@functools.lru_cache(maxsize=4)
def compiler(extra_dirs: tuple[str, ...] = ()) -> Any:
    """A Typst compiler that sees the shipped fonts (and ``extra_dirs``) and no system font."""
    import typst  # loaded on first use: see opinionkit.typstproc.typst_used

    return typst.Compiler(
        font_paths=[*(str(d) for d in font_dirs()), *extra_dirs], ignore_system_fonts=True
    )


# --- which face ---------------------------------------------------------------------------


def _is_kana(code: int) -> bool:
    return (
        0x3040 <= code <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= code <= 0x31FF  # katakana phonetic extensions
        or 0xFF66 <= code <= 0xFF9F  # half-width katakana
        or 0x1B000 <= code <= 0x1B16F  # kana supplement, extended-A, small kana
    )


def _is_hangul(code: int) -> bool:
    return (
        0xAC00 <= code <= 0xD7AF  # syllables
        or 0x1100 <= code <= 0x11FF  # jamo
        or 0x3130 <= code <= 0x318F  # compatibility jamo
        or 0xA960 <= code <= 0xA97F
        or 0xD7B0 <= code <= 0xD7FF
        or 0xFFA0 <= code <= 0xFFDC  # half-width
    )


def script_face(text: str) -> Face | None:
    """JP for a text with kana, KR for one with hangul (the first met wins), else None."""
    for ch in text:
        code = ord(ch)
        if code < 0x1100:
            continue
        if _is_kana(code):
            return Face.JP
        if _is_hangul(code):
            return Face.KR
    return None


def face_for(text: str, default: Face = DEFAULT_FACE) -> Face:
    """The face for ``text``: by its script, else ``default`` (the case's face)."""
    return script_face(text) or default


_SEPARATORS = re.compile(r"[\s_]+")
_LANGUAGES: dict[str, Face] = {
    **dict.fromkeys(("ja", "jp", "jpn", "japanese", "日本語", "にほんご"), Face.JP),
    **dict.fromkeys(("ko", "kor", "korean", "한국어", "조선말"), Face.KR),
    **dict.fromkeys(
        (
            "zh-tw",
            "zh-hant",
            "zh-hant-tw",
            "zh-mo",
            "zh-hant-mo",
            "traditional chinese",
            "chinese traditional",
            "chinese (traditional)",
            "taiwanese",
            "繁體中文",
            "繁体中文",
            "正體中文",
        ),
        Face.TC,
    ),
    **dict.fromkeys(
        ("zh-hk", "zh-hant-hk", "yue", "yue-hk", "cantonese", "廣東話", "粵語"), Face.HK
    ),
    **dict.fromkeys(
        (
            "zh",
            "zho",
            "chi",
            "cmn",
            "zh-cn",
            "zh-hans",
            "zh-hans-cn",
            "zh-sg",
            "chinese",
            "mandarin",
            "simplified chinese",
            "chinese simplified",
            "chinese (simplified)",
            "中文",
            "简体中文",
            "普通话",
            "汉语",
        ),
        Face.SC,
    ),
}


def face_for_language(language: str | None) -> Face | None:
    """The face for a language as a case file writes it (``ja``, ``zh-TW``, ``Korean``,
    ``Cantonese``, ``日本語`` ...); None for a language that is not Chinese, Japanese or
    Korean."""
    if not language:
        return None
    key = _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", language).strip().casefold())
    if key in _LANGUAGES:
        return _LANGUAGES[key]
    key = key.replace(" ", "-")
    if key in _LANGUAGES:
        return _LANGUAGES[key]
    # a tag with more subtags than listed (ja-JP, ko-KR, zh-Hans-SG ...): its language
    head = key.split("-", 1)[0]
    if head == "zh":
        for part in key.split("-")[1:]:
            if part in ("tw", "hant", "mo"):
                return Face.TC
            if part == "hk":
                return Face.HK
    return _LANGUAGES.get(head)


def case_face(case: Any) -> Face:
    """The face for the case's Han-only text: the script of the patient's name (any form),
    then the patient's preferred language, then the first record language that is
    Chinese, Japanese or Korean, else SC."""
    patient = case.patient
    names = [patient.name, patient.preferred_name, *(getattr(patient, "other_names", None) or [])]
    for name in names:
        if isinstance(name, str) and (face := script_face(name)):
            return face
    if face := face_for_language(patient.preferred_language):
        return face
    for record in case.records:
        if face := face_for_language(getattr(record, "language", None)):
            return face
    return DEFAULT_FACE


# --- stacks -------------------------------------------------------------------------------


def stack(face: Face = DEFAULT_FACE, latin: Sequence[str] = LATIN) -> tuple[str, ...]:
    """The font families text tries in order: ``latin``, then the CJK ``face``."""
    return (*latin, FACES[face])


def typst_fonts(families: Iterable[str]) -> str:
    """A Typst array literal of font family names, e.g. ``("A", "B")`` (for ``font:``)."""
    names = [f'"{f}"' for f in families]
    if any('"' in f or "\\" in f for f in families):  # pragma: no cover - our constants
        raise ValueError("font family names must not hold quotes")
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


# --- what cannot be drawn -----------------------------------------------------------------

_ALWAYS_DRAWN = frozenset(
    map(
        chr,
        [
            *range(0x20, 0x7F),  # printable ASCII
            *range(0xA0, 0x180),  # Latin-1 Supplement and Latin Extended-A: á ñ ü ß ł ő ...
            *range(0x2010, 0x2028),  # dashes, quotation marks, bullet, ellipsis
            *(0x2030, 0x2032, 0x2033, 0x2039, 0x203A, 0x20AC, 0x2122),  # ‰ ′ ″ ‹ › € ™
        ],
    )
) | {"\t", "\n", "\r"}
"""Characters every font stack draws (Typst's embedded Latin fonts come first in each;
``tests/test_fonts.py`` lays them all out with every face), and the white space Typst
lays out: most European names never need Typst to be checked."""


def _glyphs(page: pikepdf.Page) -> Iterable[int]:
    """Glyph ids a page shows in its Identity-H (two bytes a glyph) fonts, as Typst writes."""
    import pikepdf

    resources = page.obj.get("/Resources")
    fonts = resources.get("/Font") if isinstance(resources, pikepdf.Dictionary) else None
    two_byte = (
        {str(k) for k, v in fonts.items() if v.get("/Encoding") == "/Identity-H"}
        if isinstance(fonts, pikepdf.Dictionary)
        else set()
    )
    current = None
    for instruction in pikepdf.parse_content_stream(page, "Tf Tj TJ"):
        if not isinstance(instruction, pikepdf.ContentStreamInstruction):
            continue
        operands, name = instruction.operands, str(instruction.operator)
        if name == "Tf":
            current = str(operands[0])
            continue
        if current not in two_byte:
            continue
        items = operands[0] if name == "TJ" else operands
        for item in items:
            if isinstance(item, pikepdf.String):
                data = bytes(item)
                for i in range(0, len(data) - 1, 2):
                    yield data[i] << 8 | data[i + 1]


def undrawable(texts: Sequence[str], face: Face = DEFAULT_FACE) -> list[int]:
    """Indexes of the ``texts`` holding a character no shipped font can draw (it would
    print as an empty box), found by laying out each distinct character with Typst and the
    shipped fonts, one page each, and looking for glyph 0 (.notdef, the box).

    Spaces, line breaks and invisible format characters draw nothing and are never
    reported; printable ASCII always draws. The work grows with the number of distinct
    characters, not with the length of the texts."""
    from opinionkit import typstproc

    chars = {c for t in texts for c in t if c not in _ALWAYS_DRAWN}
    known = _DRAWN.setdefault(face, {})
    new = sorted(chars.difference(known))
    if new:
        # In a fork while this process has never loaded Typst (see opinionkit.typstproc):
        # a check would otherwise load it here, and every later rendering of this
        # process -- a 9,000-page packet's index -- would keep its memory.
        boxes = typstproc.call(_boxes, new, face)
        known.update((c, c not in boxes) for c in new)
    return [i for i, t in enumerate(texts) if any(not known[c] for c in chars.intersection(t))]


_DRAWN: dict[Face, dict[str, bool]] = {}
"""Whether each character met so far draws, by face: a batch's later cases lay out only
the characters no earlier case had."""


def _boxes(chars: list[str], face: Face) -> set[str]:
    """Those of ``chars`` that print as the empty box: each laid out on a page of its own."""
    from opinionkit.render.templating import finalize  # each character as templates print it

    pages = "\n".join(f"#page[{finalize(c)}]" for c in chars)
    source = (
        f"#set text(font: {typst_fonts(stack(face))}, fallback: true)\n"
        "#set page(width: auto, height: auto, margin: 1pt)\n" + pages + "\n"
    )
    import pikepdf  # here, not at import: `check` of an ASCII-only case never needs it

    pdf = compiler().compile(input=source.encode("utf-8", "replace"), format="pdf", timestamp=0)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        if len(doc.pages) != len(chars):  # pragma: no cover - one page a character, always
            raise AssertionError("the glyph check laid out an unexpected number of pages")
        return {c for c, page in zip(chars, doc.pages, strict=True) if 0 in set(_glyphs(page))}

"""Every name prints: the shipped fonts, the CJK face by script, and render.missing-glyph."""

from __future__ import annotations

import ctypes
import hashlib
import io
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pikepdf
import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
import typst
import yaml

from opinionkit.bundle import BundleOptions, bundle_case
from opinionkit.check import CheckOptions, check_case
from opinionkit.models import Case
from opinionkit.pdf import StampSpec
from opinionkit.pdf.stamp import render_stamps
from opinionkit.render import FrontMatterInput, fonts, render_front_matter
from opinionkit.render.fonts import Face, case_face, face_for, face_for_language
from opinionkit.requests import write_requests
from pdfgen import write_text_pdf

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "tests" / "cases" / "base"
TODAY = date(2026, 11, 24)
ENV = {"SOURCE_DATE_EPOCH": "1790000000"}

TANGUT = "\U00017000"  # in no shipped font
DNA = "\U0001f9ec"  # an emoji: no shipped font has colour or outline emoji

SHIPPED = re.compile(
    r"^/[A-Z]{6}\+(LibertinusSerif|NewCM|DejaVuSansMono|NotoSansCJK(sc|tc|hk|jp|kr))"
)
"""The embedded (subset) font names of the shipped fonts."""

# (name, preferred_language, the Noto face its CJK characters must be set in)
NAMES = [
    pytest.param("王小明", None, "sc", id="chinese"),
    pytest.param("山田太郎", "ja", "jp", id="japanese-kanji-with-hint"),
    pytest.param("やまだ たろう", None, "jp", id="japanese-kana"),
    pytest.param("홍길동", None, "kr", id="korean"),
    pytest.param("陳大文", "zh-HK", "hk", id="hong-kong"),
]


# --- helpers ------------------------------------------------------------------------------


def chars_and_fonts(pdf: bytes | Path, page: int) -> list[tuple[str, str]]:
    """(character, name of the font PDFium says draws it) for each character of a page."""
    doc = pypdfium2.PdfDocument(pdf)
    try:
        text = doc[page].get_textpage()
        out = []
        for i in range(text.count_chars()):
            buf = ctypes.create_string_buffer(256)
            flags = ctypes.c_int()
            pdfium_c.FPDFText_GetFontInfo(text.raw, i, buf, 256, ctypes.byref(flags))
            out.append((chr(pdfium_c.FPDFText_GetUnicode(text.raw, i)), buf.value.decode()))
        return out
    finally:
        doc.close()


def drawn_glyphs(pdf: bytes | Path, page: int) -> dict[str, list[int]]:
    """Glyph ids each Identity-H font shows on a page, its forms (the stamp) included."""
    out: dict[str, list[int]] = {}

    def walk(obj: Any, resources: Any, depth: int) -> None:
        fonts_ = resources.get("/Font", {}) if resources is not None else {}
        current = None
        for instr in pikepdf.parse_content_stream(obj):
            op = str(instr.operator)
            if op == "Tf":
                current = fonts_.get(str(instr.operands[0]))
            elif (
                op in ("Tj", "TJ")
                and current is not None
                and current.get("/Encoding") == "/Identity-H"  # Typst's (not a record's own)
            ):
                items = instr.operands[0] if op == "TJ" else instr.operands
                name = str(current.BaseFont)
                for item in items:
                    if isinstance(item, pikepdf.String):
                        b = bytes(item)
                        out.setdefault(name, []).extend(
                            b[i] << 8 | b[i + 1] for i in range(0, len(b), 2)
                        )
            elif op == "Do" and depth < 3:
                xobj = resources.XObject[str(instr.operands[0])]
                if xobj.get("/Subtype") == "/Form":
                    walk(xobj, xobj.get("/Resources", resources), depth + 1)

    with pikepdf.open(pdf if isinstance(pdf, Path) else io.BytesIO(pdf)) as doc:
        p = doc.pages[page]
        walk(p, p.obj.get("/Resources"), 0)
    return out


def assert_prints_in(pdf: bytes | Path, page: int, name: str, face: str) -> None:
    """``name`` is on the page, each of its CJK characters drawn by Noto Sans CJK ``face``,
    and no glyph on the page is the empty box (.notdef, glyph 0)."""
    seen = chars_and_fonts(pdf, page)
    text = "".join(c for c, _ in seen)
    assert name.replace(" ", "") in text.replace(" ", "")
    cjk = [(c, f) for c, f in seen if c in name and ord(c) > 0x2E80]
    assert cjk, name
    for c, f in cjk:
        assert f.endswith(f"+NotoSansCJK{face}-Regular"), (c, f)
    for font, glyphs in drawn_glyphs(pdf, page).items():
        assert 0 not in glyphs, font


def make_case(folder: Path, name: str, language: str | None = None, **replace: str) -> Path:
    """A copy of tests/cases/base for patient ``name``, its records without a name (so the
    identity check accepts them whatever the script)."""
    shutil.copytree(BASE, folder)
    text = (BASE / "case.yaml").read_text()
    patient = f"  name: {name}\n" + (f"  preferred_language: {language}\n" if language else "")
    text = text.replace("  name: Ada Testperson\n", patient)
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (folder / "case.yaml").write_text(text)
    for stem, title in (("pathology", "Surgical pathology report"), ("ct-report", "CT chest")):
        write_text_pdf(
            folder / "records" / f"{stem}.pdf",
            [["Riverbend General Hospital (fictional)", title, "DOB: 1970-05-06  MRN: 00123"]],
        )
    return folder / "case.yaml"


def bundle(case_yaml: Path, out: Path) -> Path:
    res = bundle_case(
        case_yaml, BundleOptions(out=out, check=CheckOptions(today=TODAY), environ=dict(ENV))
    )
    assert res.out is not None
    (packet,) = res.out.glob("*-packet.pdf")
    return packet


# --- which face ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "default", "face"),
    [
        ("山田たろう", Face.SC, Face.JP),  # kana: Japanese whatever the case says
        ("タナカ", Face.SC, Face.JP),
        ("洪吉洞 홍길동", Face.SC, Face.KR),  # hangul beside hanja: Korean
        ("王小明", Face.SC, Face.SC),  # Han alone: the case's face
        ("山田太郎", Face.JP, Face.JP),
        ("Jane Doe", Face.TC, Face.TC),
    ],
)
def test_the_face_follows_the_script(text: str, default: Face, face: Face) -> None:
    assert face_for(text, default) is face


@pytest.mark.parametrize(
    ("language", "face"),
    [
        ("ja", Face.JP),
        ("ja-JP", Face.JP),
        ("Japanese", Face.JP),
        ("日本語", Face.JP),
        ("ko", Face.KR),
        ("Korean", Face.KR),
        ("zh", Face.SC),
        ("zh-Hans-SG", Face.SC),
        ("Mandarin", Face.SC),
        ("zh-TW", Face.TC),
        ("zh-Hant", Face.TC),
        ("Traditional Chinese", Face.TC),
        ("zh-HK", Face.HK),
        ("Cantonese", Face.HK),
        ("en", None),
        ("es", None),
        ("", None),
        (None, None),
    ],
)
def test_languages_name_a_face(language: str | None, face: Face | None) -> None:
    assert face_for_language(language) is face


def test_the_case_face_comes_from_the_name_then_the_languages() -> None:
    data = yaml.safe_load((BASE / "case.yaml").read_text())

    def face(name: str, preferred: str | None = None, record_language: str | None = None) -> Face:
        d = {**data, "patient": {**data["patient"], "name": name}}
        if preferred:
            d["patient"]["preferred_language"] = preferred
        if record_language:
            d["records"] = [{**d["records"][0], "language": record_language}, *d["records"][1:]]
        return case_face(Case.model_validate(d))

    assert face("王小明") is Face.SC
    assert face("山田太郎") is Face.SC  # Han alone, no hint
    assert face("山田太郎", "Japanese") is Face.JP
    assert face("山田太郎", None, "ja") is Face.JP
    assert face("山田太郎", "English", "ko") is Face.KR
    assert face("やまだ たろう", "zh-TW") is Face.JP  # the name's own script first
    assert face("Jane Doe", "zh-TW") is Face.TC


# --- the shipped fonts, and only they ------------------------------------------------------


def test_typst_sees_the_shipped_fonts_and_no_system_font() -> None:
    (folder,) = fonts.font_dirs()
    assert (folder / fonts.CJK_FILE).is_file()
    shipped = set(typst.Fonts(include_system_fonts=False, font_paths=[str(folder)]).families())
    for family in (*fonts.LATIN, *fonts.FACES.values()):
        assert family in shipped, family
    # The compiler documents use has only these: a family installed on this machine but not
    # shipped (if any) is not used: a template naming it gets a shipped font.
    system_only = set(typst.Fonts(include_embedded_fonts=False).families()) - shipped
    for family in sorted(system_only)[:5]:
        pdf = fonts.compiler().compile(
            input=f'#set text(font: "{family}", fallback: true)\nAbc'.encode(), format="pdf"
        )
        used = list(drawn_glyphs(pdf, 0))
        assert used and all(SHIPPED.match(name) for name in used), (family, used)


@pytest.mark.parametrize(("name", "language", "face"), NAMES)
def test_cjk_names_print_in_the_letter_summary_and_stamp(
    tmp_path: Path, name: str, language: str | None, face: str
) -> None:
    packet = bundle(make_case(tmp_path / "case", name, language), tmp_path / "out")
    assert_prints_in(packet, 0, name, face)  # the cover letter
    assert_prints_in(packet, 1, name, face)  # the case summary (and its stamp)
    with pikepdf.open(packet) as pdf:
        last = len(pdf.pages) - 1
    assert_prints_in(packet, last, name, face)  # a record page: the stamp alone
    stamp = [c for c, f in chars_and_fonts(packet, last) if "NotoSansCJK" in f]
    assert "".join(stamp) == "".join(c for c in name if ord(c) > 0x2E80)


def test_cjk_names_print_in_the_request_letters(tmp_path: Path) -> None:
    name = "山田太郎"
    checked = check_case(make_case(tmp_path / "case", name, "ja"), CheckOptions(today=TODAY))
    res = write_requests(checked, tmp_path / "req")
    letters = [tmp_path / "req" / f for f in res.files if f.endswith(".pdf")]
    assert any("request" in p.name for p in letters) and any("authoris" in p.name for p in letters)
    for letter in letters:
        assert_prints_in(letter, 0, name, "jp")


def test_a_value_with_kana_or_hangul_takes_its_own_face(tmp_path: Path) -> None:
    # A Chinese patient, a Japanese oncologist and a Korean hospital: one face each.
    case_yaml = make_case(
        tmp_path / "case",
        "王小明",
        **{
            "    name: Dr. Omar Fictus\n": "    name: 佐藤 はなこ\n",
            "    facility: Riverbend General Hospital\n": "    facility: 서울 병원\n",
        },
    )
    packet = bundle(case_yaml, tmp_path / "out")
    seen = chars_and_fonts(packet, 0)
    faces = {c: f.split("+", 1)[1] for c, f in seen if ord(c) > 0x2E80}
    assert faces["王"] == "NotoSansCJKsc-Regular"
    assert faces["佐"] == faces["は"] == "NotoSansCJKjp-Regular"  # kanji beside kana: JP
    assert faces["서"] == "NotoSansCJKkr-Regular"


def test_a_stamp_is_set_in_the_face_it_is_given() -> None:
    pages = [(595.0, "Page 1 of 1")]
    sc = render_stamps(StampSpec("山田太郎 · Case X"), pages)
    jp = render_stamps(StampSpec("山田太郎 · Case X", face=Face.JP), pages)
    assert_prints_in(sc, 0, "山田太郎", "sc")
    assert_prints_in(jp, 0, "山田太郎", "jp")
    assert_prints_in(render_stamps(StampSpec("やまだ · Case X"), pages), 0, "やまだ", "jp")


def test_same_input_gives_the_same_bytes(tmp_path: Path) -> None:
    case_yaml = make_case(tmp_path / "case", "王小明")
    first = bundle(case_yaml, tmp_path / "a").read_bytes()
    second = bundle(case_yaml, tmp_path / "b").read_bytes()
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()


def test_front_matter_uses_only_shipped_fonts() -> None:
    data = yaml.safe_load((BASE / "case.yaml").read_text())
    data["patient"]["name"] = "王小明 · 山田たろう · 홍길동 · Ελένη · Мария · محمد"
    fm = render_front_matter(
        FrontMatterInput(Case.model_validate(data), "Adult", date(2026, 11, 20))
    )
    for section in fm.sections:
        for font, glyphs in drawn_glyphs(section.pdf, 0).items():
            assert SHIPPED.match(font), (section.key, font)
            assert 0 not in glyphs, (section.key, font)


# --- render.missing-glyph -----------------------------------------------------------------


def glyph_findings(case_yaml: Path) -> list[Any]:
    res = check_case(case_yaml, CheckOptions(today=TODAY))
    return [f for f in res.findings if f.code == "render.missing-glyph"]


_GLYPHS_IN_A_FORK = """
import sys
from datetime import date
from opinionkit.check import CheckOptions, check_case
codes = []
for path in sys.argv[1:]:
    res = check_case(path, CheckOptions(today=date(2026, 11, 24), ocr="off"))
    codes.append(sorted(f.key for f in res.findings if f.code == "render.missing-glyph"))
print(codes, "typst" in sys.modules)
"""


def test_the_glyph_check_lays_out_in_a_fork_and_remembers_what_it_learnt(
    tmp_path: Path,
) -> None:
    """The check lays out the characters in a forked child, so the checking process
    never loads Typst (a bundle would then lay out its index and stamps here, and keep
    their memory under the merge); a second case with the same characters needs no
    layout, and finds the same."""
    one = make_case(tmp_path / "one", f"José {DNA} Núñez")
    two = make_case(tmp_path / "two", f"José {DNA} Núñez")
    out = subprocess.run(
        [sys.executable, "-c", _GLYPHS_IN_A_FORK, str(one), str(two)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split("] ")[0] + "]" == "[['patient.name'], ['patient.name']]"
    assert out.stdout.strip().endswith("False")


def test_a_batch_lays_out_only_characters_it_has_not_met(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    real = fonts._boxes

    def spy(chars: list[str], face: Face) -> set[str]:
        calls.append(chars)
        return real(chars, face)

    monkeypatch.setattr(fonts, "_boxes", spy)
    monkeypatch.setattr(fonts, "_DRAWN", {})
    assert fonts.undrawable(["Ελένη", f"Ζ{DNA}"]) == [1]
    assert fonts.undrawable([f"Ελένη {DNA}", "Zoë", "Ω"]) == [0]
    assert calls == [sorted(set(f"ΕλένηΖ{DNA}")), ["Ω"]]


@pytest.mark.parametrize("face", list(Face))
def test_the_characters_taken_as_drawn_are_drawn_by_every_face(face: Face) -> None:
    """The check skips laying out ASCII, the Latin-1 and Latin Extended-A letters and
    common punctuation: each face's stack must draw every one of them."""
    chars = sorted(fonts._ALWAYS_DRAWN - {"\t", "\n", "\r"})
    assert len(chars) > 300 and "ő" in chars and "—" in chars
    assert fonts._boxes(chars, face) == set()


def test_a_european_name_is_checked_without_typst(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(chars: list[str], face: Face) -> set[str]:
        raise AssertionError(f"laid out {chars}")

    monkeypatch.setattr(fonts, "_boxes", never)
    monkeypatch.setattr(fonts, "_DRAWN", {})
    assert fonts.undrawable(["Tomás Ferrer Vidal", "Łukasz Wójcik-Ősz", "Ærøskøbing — «x»"]) == []


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        ("patient.name", "  name: Ada Testperson\n", f"  name: Ada {DNA} Testperson\n"),
        ("patient.name", "  name: Ada Testperson\n", f"  name: 王{TANGUT}明\n"),
        (
            "request.primary_question",
            "  primary_question: Is surgery",
            "  primary_question: ไทย Is surgery",  # Thai: no shipped font has it
        ),
        ("records[1].title", "    title: CT chest\n", f"    title: CT chest {TANGUT}\n"),
        ("care_team.treating_oncologist.name", "Dr. Omar Fictus", f"Dr. Omar {DNA} Fictus"),
    ],
)
def test_a_character_no_font_has_is_reported_by_field_never_by_value(
    tmp_path: Path, field: str, old: str, new: str
) -> None:
    folder = tmp_path / "case"
    shutil.copytree(BASE, folder)
    text = (BASE / "case.yaml").read_text()
    assert old in text
    (folder / "case.yaml").write_text(text.replace(old, new, 1))
    (finding,) = glyph_findings(folder / "case.yaml")
    assert finding.key == field and finding.severity.value == "warning"
    first = old.strip().splitlines()[0]
    assert finding.line == 1 + next(i for i, ln in enumerate(text.splitlines()) if first in ln)
    said = f"{finding.message} {finding.hint}"
    assert field in said
    for ch in new.strip():
        if ord(ch) > 127:
            assert ch not in said
    assert "Testperson" not in said and "Fictus" not in said


@pytest.mark.parametrize(
    "name", ["王小明", "山田太郎", "やまだ たろう", "홍길동", "Müller-Lüdenscheidt", "Ελένη"]
)
def test_names_the_fonts_draw_give_no_finding(tmp_path: Path, name: str) -> None:
    assert glyph_findings(make_case(tmp_path / "case", name)) == []


def test_undrawable_finds_exactly_the_texts_with_a_box() -> None:
    texts = ["Jane Doe", "王小明", f"A{TANGUT}", "", "x\u200by", f"{DNA}", "Zoë", "ไทย", "a\nb"]
    assert fonts.undrawable(texts) == [2, 5, 7]
    assert fonts.undrawable(["Jane Doe", "Ada Lovelace"]) == []  # ASCII: nothing laid out


def test_the_glyph_check_takes_the_longest_values() -> None:
    # (𠀋, a 4-byte character Noto Sans CJK has.) One run of text over 64 KiB panics Typst's PDF writer: the check lays out each
    # distinct character, never a whole value.
    texts = ["\U0002000b" * 20000, "é" * 20000 + TANGUT, "王" * 20000]
    assert fonts.undrawable(texts) == [1]


def test_the_bytes_do_not_depend_on_where_the_font_is_installed(tmp_path: Path) -> None:
    (folder,) = fonts.font_dirs()
    elsewhere = tmp_path / "another" / "site-packages" / "noto"
    elsewhere.mkdir(parents=True)
    shutil.copy(folder / fonts.CJK_FILE, elsewhere / fonts.CJK_FILE)
    source = f"#set text(font: {fonts.typst_fonts(fonts.stack(Face.JP))})\n王小明 山田たろう 홍길동"
    here = fonts.compiler().compile(input=source.encode(), format="pdf", timestamp=0)
    there = typst.Compiler(font_paths=[str(elsewhere)], ignore_system_fonts=True).compile(
        input=source.encode(), format="pdf", timestamp=0
    )
    assert here == there
    assert_prints_in(here, 0, "山田たろう", "jp")

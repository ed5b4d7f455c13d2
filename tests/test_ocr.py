"""OCR of scanned records: whose each page is, the packet's text layer, the cache.

The scans are typed with Pillow (Noto Sans CJK, from the noto-cjk-sans-otc test
dependency: it has Latin and Chinese) and degraded the way real ones are: a clean
200 dpi scan, a bilevel skewed noisy fax, a phone-photo JPEG, a Chinese page. Patients
and values are fictional.
"""

from __future__ import annotations

import hashlib
import json
import random
import stat
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rapidocr", reason="the OCR extra (pip install 'opinionkit[ocr]')")

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from typer.testing import CliRunner

import opinionkit.checks.scans as scans
import opinionkit.inspect.ocr as ocr
from opinionkit.bundle import BundleOptions, BundleResult, bundle_case
from opinionkit.check import CaseResult, CheckOptions, check_case
from opinionkit.cli import app
from opinionkit.errors import OcrModelMissing
from opinionkit.inspect.identity import Identity
from opinionkit.inspect.ocr import OcrLine, OcrPage, judge_page
from opinionkit.inspect.ocrcache import CACHE_DIR

TODAY = date(2026, 11, 24)
ENV = {"SOURCE_DATE_EPOCH": "1790000000"}
NAME, DOB, MRN = "Annika Solberg", "1979-05-14", "RB-447120"
WHO = Identity(NAME, date(1979, 5, 14), (MRN,))
OTHER = ("Patient: Marcus Delacroix", "DOB: 2011-09-02", "MRN: RB-998877")


def _font(size: int, index: int = 0) -> Any:
    from noto_cjk_sans_otc import FONT_PATH

    return ImageFont.truetype(str(FONT_PATH), size, index=index)


def typed(lines: list[str], dpi: int = 200, cjk: bool = False) -> Image.Image:
    """A letter-size page with ``lines`` typed at 11 pt, at ``dpi``."""
    page = Image.new("L", (round(8.5 * dpi), round(11 * dpi)), 255)
    draw = ImageDraw.Draw(page)
    font = _font(round(11 * dpi / 72), index=2 if cjk else 0)
    y = round(0.8 * dpi)
    for line in lines:
        draw.text((round(0.9 * dpi), y), line, font=font, fill=0)
        y += round(0.3 * dpi)
    return page


def header(*patient: str) -> list[str]:
    return [
        "Riverbend Clinical Laboratory",
        "14 Harbour Road, Riverbend",
        "",
        *patient,
        "",
        "Haemoglobin        12.1 g/dL      (11.5 - 15.5)",
        "White cell count    6.4 x10^9/L    (4.0 - 11.0)",
        "Platelets           250 x10^9/L    (150 - 400)",
        "Reported by: Dr. Ines Harbottle",
    ]


OURS = header(f"Patient: {NAME}", f"DOB: {DOB}", f"MRN: {MRN}")
FOREIGN = header(*OTHER)
NOBODY = [
    "Haemoglobin        12.1 g/dL      (11.5 - 15.5)",
    "White cell count    6.4 x10^9/L    (4.0 - 11.0)",
]
CHINESE = [
    "河岸临床检验中心",
    "检验报告单",
    "",
    f"出生日期: {DOB}",
    f"病历号: {MRN}",
    "血红蛋白 121 g/L",
    "白细胞 6.4 x10^9/L",
]


def fax(page: Image.Image, seed: int) -> Image.Image:
    """Bilevel, skewed by 1.2 degrees, with speckle noise (a fax at 200 dpi)."""
    rng = random.Random(seed)
    skewed = page.rotate(1.2, resample=Image.Resampling.BILINEAR, fillcolor=255)
    px = skewed.load()
    assert px is not None
    w, h = skewed.size
    for _ in range(w * h // 400):
        px[rng.randrange(w), rng.randrange(h)] = 0
    return skewed.point(lambda v: 255 if v > 150 else 0).convert("1")


def photo(page: Image.Image) -> Image.Image:
    """A phone photo of the page: warm uneven light, slightly turned and soft."""
    rgb = page.convert("RGB").resize((1500, 1941), Image.Resampling.LANCZOS)
    light = Image.linear_gradient("L").resize(rgb.size).point(lambda v: 200 + v // 5)
    tint = Image.merge("RGB", (light, light.point(lambda v: v - 8), light.point(lambda v: v - 30)))
    shaded = Image.composite(rgb, tint, rgb.convert("L").point(lambda v: 255 - v))
    return shaded.rotate(-2, fillcolor=(90, 80, 70)).filter(ImageFilter.GaussianBlur(0.8))


def write_case(folder: Path, records: list[dict[str, Any]]) -> Path:
    lines = [
        "schema_version: 1",
        "case_id: OCR-001",
        "profile: adult-general",
        "prepared: 2026-11-20",
        "patient:",
        f"  name: {NAME}",
        f"  date_of_birth: {DOB}",
        "  phone: 555-0100",
        f"  mrns: [{{institution: Riverbend, mrn: {MRN}}}]",
        "care_team:",
        "  treating_oncologist: {name: Dr. Omar Fictus, phone: 555-0101}",
        "request: {primary_question: 'Is surgery an option?'}",
        "diagnosis:",
        "  cancer_type: Neuroblastoma",
        "  date: 2026-06-02",
        "  symptoms: [{description: pain, onset: 2026-04-01}]",
        "treatment: {plan: Chemotherapy}",
        "medications: none",
        "allergies: none",
        "records:",
    ]
    for r in records:
        lines.append("  - " + json.dumps(r))
    path = folder / "case.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rec(kind: str, title: str, file: str) -> dict[str, Any]:
    return {"kind": kind, "title": title, "date": "2026-10-30", "file": file}


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One case with every kind of scan (read at once: the workers run side by side)."""
    folder = tmp_path_factory.mktemp("ocr-case")
    (folder / "records").mkdir()
    r = folder / "records"
    typed(OURS).save(r / "clean-scan.pdf", resolution=200)
    pages = [fax(typed(p), seed) for seed, p in enumerate([OURS, FOREIGN, OURS])]
    pages[0].save(r / "fax.pdf", save_all=True, append_images=pages[1:], resolution=200)
    photo(typed(OURS)).save(r / "photo.jpg", quality=72, dpi=(150, 150))
    typed(CHINESE, cjk=True).save(r / "chinese.png", dpi=(200, 200))
    typed(NOBODY).save(r / "nobody.png", dpi=(200, 200))
    return write_case(
        folder,
        [
            rec("pathology-report", "Pathology (scan)", "records/clean-scan.pdf"),
            rec("lab-report", "Faxed labs", "records/fax.pdf"),
            rec("lab-report", "Labs (photo)", "records/photo.jpg"),
            rec("lab-report", "Labs (Chinese)", "records/chinese.png"),
            rec("lab-report", "Labs (no name)", "records/nobody.png"),
        ],
    )


def _options(**kw: Any) -> CheckOptions:
    return CheckOptions(today=TODAY, ocr="on", **kw)


@pytest.fixture(scope="module")
def checked(case: Path) -> CaseResult:
    return check_case(case, _options())


def findings_for(result: CaseResult, file: str) -> dict[str, str]:
    """code -> message of the findings about ``file``."""
    return {
        f.code: f.message
        for f in result.findings
        if f.path == file and f.code.startswith("identity")
    }


# --------------------------------------------------------------------- per-page verdicts


def test_a_clean_200_dpi_scan_is_verified(checked: CaseResult) -> None:
    found = findings_for(checked, "records/clean-scan.pdf")
    assert set(found) == {"identity.ocr-verified"}, found


def test_a_fax_with_another_patients_page_is_caught_and_the_page_named(
    checked: CaseResult,
) -> None:
    found = findings_for(checked, "records/fax.pdf")
    assert "identity.mismatch" in found, found
    assert found["identity.mismatch"].startswith("scanned page(s) 2 of the record show")
    assert "page(s) 1, 3," in found["identity.ocr-verified"]
    (info,) = [f for r in checked.records for f in r.files if f.rel == "records/fax.pdf"]
    assert info.withheld == "identity.mismatch"
    assert info.ocr is not None and info.ocr[2].verdict == "mismatch"


def test_a_phone_photo_jpeg_is_verified(checked: CaseResult) -> None:
    assert set(findings_for(checked, "records/photo.jpg")) == {"identity.ocr-verified"}


def test_a_chinese_page_is_verified(checked: CaseResult) -> None:
    assert set(findings_for(checked, "records/chinese.png")) == {"identity.ocr-verified"}


def test_a_scan_with_no_readable_identity_is_not_verifiable(checked: CaseResult) -> None:
    found = findings_for(checked, "records/nobody.png")
    assert set(found) == {"identity.not-verifiable"}
    assert found["identity.not-verifiable"].startswith("scanned page(s) 1 show")


def test_no_patient_value_in_the_findings(checked: CaseResult) -> None:
    text = json.dumps([f.message + (f.hint or "") for f in checked.findings])
    for secret in ("Solberg", "Delacroix", "447120", "998877", "2011-09-02"):
        assert secret not in text


def _line(text: str, score: float, row: int) -> OcrLine:
    return OcrLine(text, (0.1, 0.05 * row, 0.6, 0.05 * row + 0.02), score)


def test_uncertain_ocr_is_never_proof_of_another_patient() -> None:
    unsure = OcrPage(tuple(_line(t, 0.6, i) for i, t in enumerate(OTHER)))
    assert judge_page(unsure, WHO).verdict == "none"
    sure = OcrPage(tuple(_line(t, 0.97, i) for i, t in enumerate(OTHER)))
    assert judge_page(sure, WHO).verdict == "mismatch"


def test_the_patients_name_beside_a_misread_date_of_birth_is_not_another_patient() -> None:
    page = OcrPage((_line(f"Patient: {NAME}", 0.98, 1), _line("DOB: 1979-05-19", 0.95, 2)))
    assert judge_page(page, WHO).verdict == "conflict"


def test_a_missing_model_is_an_error_not_a_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ocr._MODELS, "Rec", "no-such-model.onnx")
    with pytest.raises(OcrModelMissing, match="never downloaded"):
        ocr.model_paths()


# --------------------------------------------------------------------- without OCR


def test_without_the_extra_the_scan_warning_names_the_pages_and_how_to_install(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ocr, "available", lambda: False)
    result = check_case(case, replace(_options(), ocr="auto"))
    warning = next(
        f
        for f in result.findings
        if f.path == "records/fax.pdf" and f.code == "identity.not-verifiable"
    )
    assert "page(s) 1–3" in warning.message
    assert "pip install 'opinionkit[ocr]'" in (warning.hint or "")
    # and --ocr on without it is a usage error, with the same hint
    res = CliRunner().invoke(app, ["check", str(case), "--ocr", "on"])
    assert res.exit_code == 2
    assert "opinionkit[ocr]" in res.output


# --------------------------------------------------------------------- the cache


def test_an_unchanged_scan_is_not_read_again(
    case: Path, checked: CaseResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = case.parent / CACHE_DIR
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    files = list(cache.iterdir())
    assert len(files) == 5
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        body = f.read_text()
        for secret in ("Solberg", "447120", "Delacroix", "Haemoglobin", "1979"):
            assert secret not in body  # verdicts only, never text or values
    jobs: list[Any] = []
    real = scans.run_many

    def counting(js: list[Any], **kw: Any) -> list[Any]:
        jobs.extend(js)
        return real(js, **kw)

    monkeypatch.setattr(scans, "run_many", counting)
    again = check_case(case, _options())
    assert jobs == []
    assert findings_for(again, "records/fax.pdf") == findings_for(checked, "records/fax.pdf")
    # another patient's identity is another key: read again
    monkeypatch.setattr(scans, "identity_key", lambda who: "another patient")
    check_case(case, _options())
    assert len(jobs) == 7  # 1 + 3 + 1 + 1 + 1 pages


def test_a_case_folder_that_cannot_hold_a_cache_still_checks(tmp_path: Path) -> None:
    (tmp_path / "records").mkdir()
    typed(OURS).save(tmp_path / "records" / "scan.png", dpi=(200, 200))
    path = write_case(tmp_path, [rec("pathology-report", "Pathology", "records/scan.png")])
    (tmp_path / ".opinionkit-cache").write_text("not a folder")  # mkdir fails there
    result = check_case(path, _options())
    assert set(findings_for(result, "records/scan.png")) == {"identity.ocr-verified"}


# --------------------------------------------------------------------- the text layer


def _bundle(case: Path, out: Path, **kw: Any) -> BundleResult:
    return bundle_case(
        case,
        BundleOptions(out=out, allow_incomplete=True, environ=dict(ENV), check=_options(), **kw),
    )


@pytest.fixture(scope="module")
def bundled(case: Path, tmp_path_factory: pytest.TempPathFactory) -> BundleResult:
    return _bundle(case, tmp_path_factory.mktemp("ocr-packet") / "p")


def _page_texts(res: BundleResult, file: str) -> list[str]:
    import pypdfium2 as pdfium

    assert res.out is not None
    (packet,) = res.out.glob("*-packet.pdf")
    item = next(i for i in res.manifest["inputs"] if i["path"] == file)
    doc = pdfium.PdfDocument(packet)
    try:
        first, last = item["pages"]
        return [doc[n - 1].get_textpage().get_text_range() for n in range(first, last + 1)]
    finally:
        doc.close()


@pytest.mark.parametrize("file", ["records/clean-scan.pdf", "records/photo.jpg"])
def test_the_packets_scanned_pages_are_searchable(bundled: BundleResult, file: str) -> None:
    (text,) = _page_texts(bundled, file)
    assert "Riverbend Clinical Laboratory" in text
    assert "Harbottle" in text


def test_the_text_layer_sits_where_the_line_was_read(bundled: BundleResult) -> None:
    import pypdfium2 as pdfium

    assert bundled.out is not None
    (packet,) = bundled.out.glob("*-packet.pdf")
    item = next(i for i in bundled.manifest["inputs"] if i["path"] == "records/clean-scan.pdf")
    doc = pdfium.PdfDocument(packet)
    page = doc[item["pages"][0] - 1]
    text = page.get_textpage()
    found = text.search("Riverbend Clinical").get_next()
    assert found is not None
    left, baseline, _right, _top = text.get_charbox(found[0])  # glyphless: at the baseline
    height = page.get_height()
    # typed 0.9 in from the left, 0.8 in from the top to the font's ascender (72 pt an inch)
    ascent_px, _ = _font(round(11 * 200 / 72)).getmetrics()
    typed_baseline = (0.8 * 200 + ascent_px) * 72 / 200
    assert abs(left - 0.9 * 72) < 4
    assert abs((height - baseline) - typed_baseline) < 4
    doc.close()


def test_the_scan_images_are_untouched_and_the_packet_reproducible(
    case: Path, bundled: BundleResult, tmp_path: Path
) -> None:
    import pikepdf

    again = _bundle(case, tmp_path / "again")
    assert again.outputs[0].sha256 == bundled.outputs[0].sha256
    jpeg = (case.parent / "records" / "photo.jpg").read_bytes()
    assert bundled.out is not None
    (packet,) = bundled.out.glob("*-packet.pdf")
    with pikepdf.open(packet) as pdf:
        streams = [
            o.read_raw_bytes()
            for o in pdf.objects
            if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"
        ]
    assert hashlib.sha256(jpeg).digest() in {hashlib.sha256(s).digest() for s in streams}


def test_no_text_layer_leaves_the_scans_without_text(case: Path, tmp_path: Path) -> None:
    res = _bundle(case, tmp_path / "plain", text_layer=False)
    (text,) = _page_texts(res, "records/clean-scan.pdf")
    assert "Riverbend Clinical" not in text


def test_a_scanned_fax_with_its_foreign_page_withheld_is_accepted_and_stays_searchable(
    tmp_path: Path,
) -> None:
    """withhold: works on OCR verdicts as on text: page 2 (another patient's) is only
    noted, pages 1 and 3 go into the packet, each with its own text layer."""
    r = tmp_path / "records"
    r.mkdir()
    pages = [fax(typed(p), seed) for seed, p in enumerate([OURS, FOREIGN, OURS])]
    pages[0].save(r / "fax.pdf", save_all=True, append_images=pages[1:], resolution=200)
    entry = rec("lab-report", "Faxed labs", "records/fax.pdf")
    entry["withhold"] = {"pages": [2], "reason": "another patient's page (fax mix-up)"}
    case = write_case(tmp_path, [entry])
    result = check_case(case, _options())
    found = findings_for(result, "records/fax.pdf")
    assert "identity.mismatch" not in found, found
    assert found["identity.mismatch-withheld"].startswith("scanned page(s) 2 ")
    res = _bundle(case, tmp_path / "p")
    item = next(i for i in res.manifest["inputs"] if i["path"] == "records/fax.pdf")
    assert item["pages"][1] - item["pages"][0] == 1  # two pages, not three
    texts = _page_texts(res, "records/fax.pdf")
    assert all(NAME.split()[-1] in t for t in texts), texts
    assert not any("Delacroix" in t for t in texts), texts

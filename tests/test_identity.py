"""Identity v2 (issue 12): names in every script and form, dates in written forms, other
people on a page, DICOM judged per file, and the user's controls (withhold:,
identity_confirmed:) with every record's identity status in the JSON and the manifest."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from opinionkit.bundle import BundleOptions, BundleRefused, bundle_case
from opinionkit.check import CheckOptions, check_case
from opinionkit.cli import app
from opinionkit.errors import ExitCode
from opinionkit.inspect.dicom import inspect_dicom_folder, looks_like_dicom_without_preamble
from opinionkit.inspect.identity import Identity, dates_in, dicom_evidence, fold, text_evidence
from pdfgen import outline_rows

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"
TODAY = date(2026, 11, 24)
ENV = {"SOURCE_DATE_EPOCH": "1790000000"}

ADA = Identity("Ada Testperson", date(1970, 5, 6), ("00123",))
HANS = Identity("Hans Müller", date(1968, 3, 12))
MARY = Identity("Mary-Jane O'Neil", date(1968, 3, 12))
WANG = Identity("王小明", date(1968, 3, 12), other_names=("Wang Xiaoming",))


def verdict(text: str, who: Identity = ADA) -> str:
    return text_evidence(text, who).verdict


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "text", ["Patient: Hans Müller", "Patient: Hans Mueller", "Patient: MULLER, HANS"]
)
def test_umlauts_folded_and_spelled_out_are_one_name(text: str) -> None:
    assert verdict(text, HANS) == "match"


def test_a_different_given_name_under_the_same_family_name_is_another_patient() -> None:
    assert verdict("Patient: Heinz Mueller", HANS) == "mismatch"
    assert verdict("Patient: Archibald Doe", Identity("Peter Doe", date(1961, 2, 3))) == "mismatch"


@pytest.mark.parametrize(
    "text",
    ["Patient: O'NEIL, MARY JANE", "Patient: Mary Jane ONeil", "Patient: Mary O\u2019Neil"],
)
def test_hyphens_and_apostrophes_are_separators(text: str) -> None:
    assert verdict(text, MARY) == "match"


def test_other_names_and_native_script_names_match() -> None:
    assert verdict("Patient: Wang Xiaoming", WANG) == "match"
    assert verdict("Patient: Xiaoming Wang", WANG) == "match"
    assert verdict("患者姓名：王小明", WANG) == "match"
    assert verdict("姓名: 王 小明 先生", WANG) == "match"
    assert verdict("患者姓名：李小明", WANG) == "mismatch"
    assert verdict("Patient: Wang Xiaodong", WANG) == "mismatch"


def test_a_name_in_a_script_the_patient_has_no_form_in_is_no_evidence() -> None:
    only_native = Identity("王小明", date(1968, 3, 12))
    assert verdict("Patient: Wang Xiaoming", only_native) == "none"
    assert verdict("Patient: 王小明", Identity("Wang Xiaoming", date(1968, 3, 12))) == "none"


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "written",
    [
        "1968-03-12",
        "12.03.1968",
        "12/03/1968",
        "03/12/1968",
        "12 March 1968",
        "March 12, 1968",
        "12 mars 1968",
        "12. März 1968",
        "12 de marzo de 1968",
        "12 marzo 1968",
        "1968年3月12日",
        "１９６８年３月１２日",
        "1968년 3월 12일",
    ],
)
def test_dates_of_birth_in_written_forms(written: str) -> None:
    assert verdict(f"DOB: {written}", HANS) == "match"
    assert any(date(1968, 3, 12) in ds for _, _, ds in dates_in(fold(written)))


def test_an_ambiguous_numeric_date_is_never_by_itself_another_patient() -> None:
    assert verdict("DOB: 04/03/1999") == "none"  # 4 March or 3 April: neither is Ada's
    ev = text_evidence("DOB: 04/03/1999", ADA)
    assert ev.doubtful_dobs and not ev.other_dobs
    assert verdict("DOB: 1999-03-04") == "mismatch"  # unambiguous
    assert verdict("DOB: 23/03/1999") == "mismatch"  # no second reading
    # beside another patient's name, the date is one of the fields named
    assert text_evidence("Patient: Bruno Otherman  DOB: 04/03/1999", ADA).fields == [
        "patient name",
        "date of birth",
    ]
    assert verdict("生年月日：1999年3月4日") == "mismatch"


# --------------------------------------------------------------------------- other people


GUARDED = Identity(
    "Ada Testperson",
    date(2011, 5, 6),
    guardian_names=("Bob Testperson",),
    guardian_dobs=(date(1980, 1, 2),),
)


@pytest.mark.parametrize(
    "line",
    [
        "Parent/guardian DOB: 1950-01-01",
        "Mother's date of birth: 1950-01-01",
        "Subscriber: Carl Roe   DOB: 1950-01-01",
        "Insured date of birth: 1950-01-01",
        "Policy holder DOB: 1950-01-01",
        "Emergency contact: Carl Roe, born 1950-01-01",
        "Signature of signer ____  Date of birth: 1950-01-01",
        "Signer DOB: 1950-01-01",
        "Father MRN: 99887",
        "保護者 生年月日：1950年1月1日",
    ],
)
def test_other_peoples_labelled_dates_and_numbers_are_not_the_patients(line: str) -> None:
    assert verdict(f"Patient: Ada Testperson\n{line}", GUARDED) == "match"
    assert verdict(line, GUARDED) == "none"


def test_a_heading_above_makes_the_block_someone_elses() -> None:
    text = "Patient: Ada Testperson\n\nSubscriber information\nName: Carl Roe\nDOB: 1950-01-01"
    assert verdict(text, GUARDED) == "match"
    text = "Subscriber information\nName: Carl Roe\n\nPatient information\nDOB: 1950-01-01"
    assert verdict(text, GUARDED) == "mismatch"


def test_a_listed_guardians_name_or_date_is_not_a_mismatch() -> None:
    assert verdict("Patient: Ada Testperson\nDOB: 1980-01-02", GUARDED) == "match"
    assert verdict("Patient: Bob Testperson", GUARDED) == "none"
    assert verdict("Patient: Ada Testperson\nDOB: 1980-01-03", GUARDED) == "mismatch"


def test_a_patient_labelled_field_of_someone_else_is_a_mismatch() -> None:
    text = (
        "Subscriber: Ada Testperson  Subscriber DOB: 05/06/1970\nPatient: Tim Roe  DOB: 2005-09-09"
    )
    assert text_evidence(text, ADA).fields == ["patient name", "date of birth"]


# --------------------------------------------------------------------------- DICOM


def _charset(tmp: Path, *names: str) -> Path:
    from pydicom.data import get_charset_files

    tmp.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(get_charset_files(f"{name}.dcm")[0], tmp / f"{name}.dcm")
    return tmp


@pytest.mark.parametrize(
    ("files", "who"),
    [
        (("chrH31",), Identity("Tarou Yamada", date(1968, 3, 12), ("H31EXAMPLE",))),
        (("chrH31", "chrH32"), Identity("山田太郎", date(1968, 3, 12), ("H31EXAMPLE", "H32EXAMPLE"))),
        (("chrI2",), Identity("Gildong Hong", date(1968, 3, 12), ("I2EXAMPLE",))),
        (("chrI2",), Identity("홍길동", date(1968, 3, 12), ("I2EXAMPLE",))),
        (("chrX1", "chrX2"), Identity("Wang XiaoDong", date(1968, 3, 12), ("X1EXAMPLE", "X2EXAMPLE"))),
        (("chrX1",), Identity("王小東", date(1968, 3, 12), ("X1EXAMPLE",))),
    ],
)  # fmt: skip
def test_person_name_groups_match_each_form(tmp_path: Path, files: Any, who: Identity) -> None:
    folder = inspect_dicom_folder(_charset(tmp_path, *files))
    assert dicom_evidence(folder, who).verdict == "match"


def test_person_name_groups_of_another_patient(tmp_path: Path) -> None:
    folder = inspect_dicom_folder(_charset(tmp_path, "chrI2", "chrX1"))
    ev = dicom_evidence(folder, Identity("Gildong Hong", date(1968, 3, 12), ("I2EXAMPLE",)))
    assert (ev.verdict, ev.mismatched) == ("mismatch", ("chrX1.dcm",))
    assert ev.fields == ("PatientName", "PatientID")


def test_a_name_only_in_scripts_the_patient_has_no_form_in_is_unverified(
    tmp_path: Path,
) -> None:
    # chrH32: ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう -- no Latin group for a patient known as Tarou Yamada
    folder = inspect_dicom_folder(_charset(tmp_path, "chrH32"))
    who = Identity("Tarou Yamada", date(1968, 3, 12), ("H32EXAMPLE",))
    assert dicom_evidence(folder, who).verdict == "weak"
    both = Identity("Tarou Yamada", date(1968, 3, 12), ("H32EXAMPLE",), other_names=("山田 太郎",))
    assert dicom_evidence(folder, both).verdict == "match"


def test_simplified_and_traditional_han_spellings_are_one_name(tmp_path: Path) -> None:
    folder = inspect_dicom_folder(_charset(tmp_path, "chrX2"))  # 王^小东 (simplified)
    ev = dicom_evidence(folder, Identity("王小東", date(1968, 3, 12), ("X2EXAMPLE",)))
    assert ev.verdict == "match" and not ev.mismatched
    # the family character differs too (张 / 張); Japanese shinjitai (辺 / 邊)
    assert verdict("患者姓名：张伟 性别：男", Identity("張偉", date(1968, 3, 12))) == "match"
    assert verdict("张伟，男，56岁", Identity("張偉", date(1968, 3, 12))) == "match"
    assert verdict("氏名：渡辺 太郎", Identity("渡邊太郎", date(1968, 3, 12))) == "match"
    # a relative with the same family name and a given name of the same length is not
    assert verdict("氏名：山田 花子 様", Identity("山田太郎", date(1968, 3, 12))) == "mismatch"
    assert verdict("患者姓名：王小明", Identity("王小東", date(1968, 3, 12))) == "mismatch"


def test_a_random_file_is_never_taken_for_dicom_without_a_preamble(tmp_path: Path) -> None:
    assert not looks_like_dicom_without_preamble(b"%PDF-1.4\n")
    assert not looks_like_dicom_without_preamble(b"\xff\xd8\xff\xe0\x00\x10JFIF")
    assert not looks_like_dicom_without_preamble(bytes(16))
    assert looks_like_dicom_without_preamble(b"\x08\x00\x16\x00UI\x1a\x00")
    (tmp_path / "a.bin").write_bytes(b"\x08\x00\x16\x00" + bytes(300))  # looks, is not
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 3)
    folder = inspect_dicom_folder(tmp_path)
    assert folder.dicom_files == 0 and not folder.patients


def test_dicom_files_are_judged_each_on_its_own() -> None:
    folder = inspect_dicom_folder(CASES / "identity-dicom-relatives" / "records" / "ct")
    who = Identity("Peter Doe", date(1961, 2, 3), ("40001",))
    ev = dicom_evidence(folder, who)
    assert ev.mismatched == ("IM0004.dcm", "IM0005.dcm")
    assert ev.fields == ("PatientName", "PatientID", "PatientBirthDate")
    objects = inspect_dicom_folder(CASES / "identity-dicom-own-objects" / "records" / "ct")
    assert objects.dicom_files == 6  # CT, RTSTRUCT, SR and the file without a preamble
    assert sorted(objects.non_dicom) == ["LOG.BIN", "README.TXT"]
    assert dicom_evidence(objects, who).verdict == "match"


# --------------------------------------------------------------------------- controls


def opts(out: Path, **kw: Any) -> BundleOptions:
    kw.setdefault("environ", dict(ENV))
    check = kw.pop("check", CheckOptions(today=TODAY))
    return BundleOptions(out=out, check=check, **kw)


def _copy_case(tmp: Path, name: str, edit: tuple[str, str] | None = None) -> Path:
    target = tmp / name
    shutil.copytree(CASES / name, target)
    if edit is not None:
        case = target / "case.yaml"
        text = case.read_text(encoding="utf-8")
        assert edit[0] in text
        case.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    return target / "case.yaml"


def test_withheld_page_leaves_the_packet_and_its_navigation_follows(tmp_path: Path) -> None:
    with pytest.raises(BundleRefused):
        bundle_case(CASES / "identity-fax-foreign-page" / "case.yaml", opts(tmp_path / "no"))
    res = bundle_case(CASES / "identity-fax-withheld-page" / "case.yaml", opts(tmp_path / "p"))
    manifest = res.manifest
    (fax,) = [i for i in manifest["inputs"] if i["path"] == "records/fax.pdf"]
    assert fax["pages"][1] - fax["pages"][0] + 1 == 2
    assert fax["identity"]["status"] == "verified" and fax["identity"]["withheld_pages"] == [2]
    assert "fax mix-up" in fax["identity"]["withheld_reason"]
    (entry,) = [w for w in manifest["withheld"] if w["code"] == "withhold"]
    assert entry["pages"] == [2] and "fax mix-up" in entry["reason"]
    assert manifest["complete"] is False
    assert res.out is not None
    reader = PdfReader(next(res.out.glob("*-packet.pdf")))
    assert len(reader.pages) == manifest["pages"]
    texts = [p.extract_text() for p in reader.pages]
    assert not any("Otherman" in t for t in texts)  # the foreign page is not in the packet
    assert "FAX 1/3" in texts[fax["pages"][0] - 1] and "FAX 3/3" in texts[fax["pages"][1] - 1]
    marks = [(t, p) for d, t, p in outline_rows(reader) if d == 1]
    assert ("Faxed consultation", fax["pages"][0]) in marks
    after = [i for i in manifest["inputs"] if i["pages"][0] > fax["pages"][0]]
    assert all(i["pages"][0] > fax["pages"][1] for i in after)


def test_a_withheld_pdfs_own_bookmarks_stay_on_the_kept_pages(tmp_path: Path) -> None:
    case = _copy_case(tmp_path, "identity-fax-withheld-page")
    fax = case.parent / "records" / "fax.pdf"
    writer = PdfWriter(clone_from=PdfReader(fax))
    for n, title in enumerate(["Page one", "Page two", "Page three"]):
        writer.add_outline_item(title=title, page_number=n)
    writer.write(fax)
    res = bundle_case(case, opts(tmp_path / "p"))
    assert res.out is not None
    rows = outline_rows(PdfReader(next(res.out.glob("*-packet.pdf"))))
    (fax_in,) = [i for i in res.manifest["inputs"] if i["path"] == "records/fax.pdf"]
    own = [(t, p) for d, t, p in rows if d == 2]
    assert own == [("Page one", fax_in["pages"][0]), ("Page three", fax_in["pages"][1])]


def test_withhold_naming_a_page_the_record_lacks_is_an_error(tmp_path: Path) -> None:
    case = _copy_case(tmp_path, "identity-fax-withheld-page", ("pages: [2]", 'pages: [2, "4-5"]'))
    result = check_case(case, CheckOptions(today=TODAY))
    (f,) = [f for f in result.findings if f.code == "withhold.no-such-page"]
    assert f.key == "records[2].withhold" and "4–5" in f.message


def test_foreign_dicom_files_are_withheld_one_by_one(tmp_path: Path) -> None:
    case = CASES / "identity-dicom-relatives" / "case.yaml"
    res = bundle_case(case, opts(tmp_path / "p", allow_incomplete=True))
    sources = sorted(f["source"] for im in res.manifest["imaging"] for f in im["files"])
    assert sources == [f"records/ct/IM000{i}.dcm" for i in (1, 2, 3)]
    withheld = {w["path"]: w["code"] for w in res.manifest["withheld"]}
    assert withheld == {
        "records/ct/IM0004.dcm": "identity.dicom-mismatch",
        "records/ct/IM0005.dcm": "identity.dicom-mismatch",
    }
    (im,) = res.manifest["imaging"]
    assert im["identity"]["status"] == "verified" and im["identity"]["evidence"] == ["dicom"]


def test_withhold_files_leaves_them_out_and_clears_the_error(tmp_path: Path) -> None:
    case = _copy_case(
        tmp_path,
        "identity-dicom-relatives",
        (
            "folder: records/ct, report: ct-report}",
            "folder: records/ct, report: ct-report, withhold: {files: [IM0004.dcm, "
            "IM0005.dcm], reason: the patient's father's images}}",
        ),
    )
    result = check_case(case, CheckOptions(today=TODAY))
    assert not result.findings.errors
    assert "identity.mismatch-withheld" in {f.code for f in result.findings}
    res = bundle_case(case, opts(tmp_path / "p"))
    copied = [f["source"] for im in res.manifest["imaging"] for f in im["files"]]
    assert len(copied) == 3
    reasons = {w["path"]: w.get("reason") for w in res.manifest["withheld"]}
    assert reasons["records/ct/IM0004.dcm"] == "the patient's father's images"


def test_identity_confirmed_accepts_the_unverifiable_but_never_a_mismatch() -> None:
    scan = check_case(CASES / "identity-scan-confirmed" / "case.yaml", CheckOptions(today=TODAY))
    codes = {f.code for f in scan.findings}
    assert "identity.confirmed" in codes and "identity.not-verifiable" not in codes
    assert scan.records[2].identity()["status"] == "confirmed"
    fax = check_case(
        CASES / "identity-fax-confirmed-not-enough" / "case.yaml", CheckOptions(today=TODAY)
    )
    (mismatch,) = [f for f in fax.findings if f.code == "identity.mismatch"]
    assert "page(s) 2" in mismatch.message
    assert mismatch.hint and "withhold:" in mismatch.hint and "identity_confirmed" in mismatch.hint


def test_warnings_name_identity_confirmed_in_their_hint() -> None:
    result = check_case(
        CASES / "identity-dicom-anonymised" / "case.yaml", CheckOptions(today=TODAY)
    )
    (f,) = [f for f in result.findings if f.code == "identity.dicom-unverified"]
    assert f.hint and "identity_confirmed" in f.hint


def test_check_json_shows_each_records_identity(tmp_path: Path) -> None:
    runner = CliRunner()
    got = runner.invoke(
        app,
        [
            "check",
            str(CASES / "identity-fax-withheld-page" / "case.yaml"),
            "--format",
            "json",
            "--today",
            TODAY.isoformat(),
        ],
    )
    data = json.loads(got.stdout)
    records = data["cases"][0]["records"] if "cases" in data else data[0]["records"]
    statuses = [r["identity"]["status"] for r in records]
    assert statuses == ["verified", "verified", "verified"]
    fax = records[2]
    assert fax["identity"]["withhold"]["pages"] == [2]
    assert fax["files"][0]["withheld_pages"] == [2] and fax["files"][0]["evidence"] == ["text"]


def test_manifest_records_every_identity_status(tmp_path: Path) -> None:
    res = bundle_case(CASES / "identity-scan-confirmed" / "case.yaml", opts(tmp_path / "p"))
    ids = {r["record"]: r for r in res.manifest["identity"]}
    assert ids[2]["status"] == "confirmed"
    assert ids[2]["confirmed_by"] == "checked by Dr. Fictus against the chart"
    (scan,) = [i for i in res.manifest["inputs"] if i["path"] == "records/scan.jpg"]
    assert scan["identity"]["confirmed_by"].startswith("checked by")


def test_bundle_strict_refuses_any_warning(tmp_path: Path) -> None:
    case = CASES / "identity-dicom-anonymised" / "case.yaml"
    strict = CheckOptions(today=TODAY, strict=True)
    with pytest.raises(BundleRefused) as refused:
        bundle_case(case, opts(tmp_path / "strict", check=strict))
    assert refused.value.exit_code is ExitCode.FINDINGS
    assert not (tmp_path / "strict").exists()
    assert bundle_case(case, opts(tmp_path / "lenient")).out is not None
    got = CliRunner().invoke(
        app,
        [
            "bundle",
            str(case),
            "--strict",
            "--today",
            TODAY.isoformat(),
            "--out",
            str(tmp_path / "c"),
        ],
        env=ENV,
    )
    assert got.exit_code == int(ExitCode.FINDINGS) and not (tmp_path / "c").exists()


def test_a_record_in_chinese_is_judged_by_its_text() -> None:
    # (pdfgen writes cp1252 text only: the page's text is judged directly)
    assert verdict("病历\n患者姓名：王小明\n出生日期：1968年3月12日", WANG) == "match"
    assert verdict("病历\n患者姓名：张伟\n出生日期：1975年7月1日", WANG) == "mismatch"


# --------------------------------------------------------------------------- romanisation


def test_romanised_spellings_of_one_name_agree() -> None:
    from pydicom.valuerep import PersonName

    from opinionkit.inspect.dicom import _person_name_groups
    from opinionkit.inspect.identity import dicom_name_state

    def state(pn: str, who: Identity) -> str:
        return dicom_name_state(_person_name_groups(PersonName(pn)), who.forms)

    taro = Identity("Taro Yamada", date(1968, 3, 12))
    assert state("Yamada^Tarou=山田^太郎=やまだ^たろう", taro) == "match"  # Tarou = Taro
    assert state("Yamada^Hanako", taro) == "other"
    hong = Identity("Gildong Hong", date(1968, 3, 12))
    assert state("HONG^GIL DONG", hong) == state("Hong^Gil-Dong", hong) == "match"
    assert state("Hong^Gilsoon", hong) == "other"
    # in text, a long romanised word may be split anywhere
    assert verdict("Dear Mr Hong Gil-dong,", hong) == "match"
    assert verdict("Patient: WANG Xiao Ming", WANG) == "match"


def test_a_cjk_label_run_stops_at_the_next_field() -> None:
    wang = Identity("王小明", date(1968, 3, 12), ("12345",))
    assert verdict("患者：王小明  病历号：12345", wang) == "match"
    assert verdict("患者姓名：王小明 性别：男", wang) == "match"
    assert verdict("患者：张三  病历号：99999", wang) == "mismatch"
    assert verdict("患者姓名：王小东 性别：男", Identity("王小東", date(1968, 3, 12))) == "match"


# --------------------------------------------------------------------------- public test files


def test_pydicoms_dicomdir_test_cd_relatives_are_caught_file_by_file(tmp_path: Path) -> None:
    """pydicom's dicomdirtests CD: Doe^Peter's MR and CT, Doe^Archibald's CT and CR, and
    Citizen^Jan's images, in one folder: only Doe^Peter's files are his."""
    from pydicom.data import get_testdata_file

    cd = Path(get_testdata_file("CT_small.dcm")).parent / "dicomdirtests"  # type: ignore[arg-type]
    folder = inspect_dicom_folder(cd)
    peter = Identity("Peter Doe", date(1950, 1, 1), ("98890234",))
    ev = dicom_evidence(folder, peter)
    own = [f for p, files in folder.patients.items() for f in files if p.patient_id == "98890234"]
    assert own and not set(own) & set(ev.mismatched)
    assert all(not f.startswith("98892") for f in ev.mismatched)  # Doe^Peter's folders
    assert any(f.startswith("77654033/") for f in ev.mismatched)  # Doe^Archibald's
    assert len(ev.mismatched) == sum(len(v) for v in folder.patients.values()) - len(own)


def test_big_endian_files_without_meta_and_pseudonyms(tmp_path: Path) -> None:
    from pydicom.data import get_testdata_file

    shutil.copyfile(get_testdata_file("ExplVR_BigEndNoMeta.dcm"), tmp_path / "a")  # type: ignore[arg-type]
    folder = inspect_dicom_folder(tmp_path)
    assert folder.dicom_files == 1
    # a code in the name field (CQ500-CT-310), a template (Lastname^Firstname), a phantom
    from pydicom.valuerep import PersonName

    from opinionkit.inspect.dicom import _person_name_groups
    from opinionkit.inspect.identity import dicom_name_state

    for pn in ("CQ500-CT-310", "Lastname^Firstname", "Last^First^mid^pre", "Test^Phantom30sep"):
        assert dicom_name_state(_person_name_groups(PersonName(pn)), ADA.forms) == "none", pn


def test_withhold_numbers_pages_across_a_records_scans(tmp_path: Path) -> None:
    from PIL import Image

    from pdfgen import case_head

    records = tmp_path / "records"
    records.mkdir()
    for n, shade in enumerate((200, 120, 60), start=1):
        Image.new("L", (60, 80), shade).save(records / f"p{n}.png")
    (tmp_path / "case.yaml").write_text(
        case_head("SCAN-1", "Ada Testperson")
        + "  - {kind: lab-report, title: Labs, date: 2026-10-02, "
        "files: [records/p1.png, records/p2.png, records/p3.png], "
        "withhold: {pages: [2], reason: not hers}, identity_confirmed: checked by the nurse}\n",
        encoding="utf-8",
    )
    result = check_case(tmp_path / "case.yaml", CheckOptions(today=TODAY))
    (info,) = result.records
    assert [f.identity for f in info.files] == ["confirmed", "withheld", "confirmed"]
    assert "withhold.whole-file" in {f.code for f in result.findings}
    res = bundle_case(tmp_path / "case.yaml", opts(tmp_path / "p", allow_incomplete=True))
    (labs,) = {i["record"]: i for i in res.manifest["inputs"]}.values()
    assert labs["pages"][1] - labs["pages"][0] + 1 == 2
    assert [w.get("pages") for w in res.manifest["withheld"]] == [[2]]


def test_titles_and_initials_in_a_labelled_name() -> None:
    assert verdict("Patient: Mr. Bruno Otherman") == "mismatch"
    assert verdict("Patient: Mrs Ada M. Testperson") == "match"


def test_the_index_says_how_many_pages_were_withheld(tmp_path: Path) -> None:
    res = bundle_case(CASES / "identity-fax-withheld-page" / "case.yaml", opts(tmp_path / "p"))
    assert res.out is not None
    reader = PdfReader(next(res.out.glob("*-packet.pdf")))
    index = next(s for s in res.manifest["front_matter"] if s["section"] == "Index of enclosures")
    text = " ".join(
        reader.pages[n - 1].extract_text()
        for n in range(*index["pages"][:1], index["pages"][1] + 1)
    )
    assert "1 page(s) withheld" in " ".join(text.split())


def test_other_patient_names_and_ids_in_the_header_count(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(CASES))
    from make_identity_records import dicom

    path = tmp_path / "IM1"
    dicom(path, "Newname^Ada", "IMG-1", "", n=1)
    import pydicom

    ds = pydicom.dcmread(path)
    ds.OtherPatientNames = ["Testperson^Ada", "Testperson^A"]
    ds.OtherPatientIDs = ["X-9", "00123"]
    ds.save_as(path)
    ev = dicom_evidence(inspect_dicom_folder(tmp_path), ADA)
    assert ev.verdict == "match"
    ds.OtherPatientNames = "Otherman^Bruno"
    ds.save_as(path)
    assert dicom_evidence(inspect_dicom_folder(tmp_path), ADA).verdict == "mismatch"


def test_check_text_sums_up_the_records_identity() -> None:
    got = CliRunner().invoke(
        app,
        [
            "check",
            str(CASES / "identity-scan-confirmed" / "case.yaml"),
            "--today",
            TODAY.isoformat(),
        ],
    )
    text = " ".join(got.stdout.split())
    assert "identity of the records: 2 verified (text 2), 1 confirmed" in text

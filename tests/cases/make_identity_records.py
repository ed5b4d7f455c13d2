"""The identity test cases (issue 12): a wrong-patient and a right-patient folder for each
rule. Writes each folder's case.yaml and records; expected.yaml is written by hand.

Deterministic; run by ``python tests/cases/make_records.py`` (or on its own). Names,
dates and numbers are fictional; the Person Names of pydicom's charset test files
(chrH31, chrH32, chrI2, chrX1, chrX2) are used as they ship.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pdfgen import text_pdf  # noqa: E402

ROOT = "1.2.826.0.1.3680043.10.999.12."
RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
BASIC_SR = "1.2.840.10008.5.1.4.1.1.88.11"
CT = "1.2.840.10008.5.1.4.1.1.2"

# Every case file has the same head, so that the completeness findings sit on the same
# lines in each (records: on line 20); the patient comes after the records.
HEAD = """\
# {comment}
schema_version: 1
case_id: {case_id}
profile: adult-general
prepared: 2026-11-20
insurance: {{payer: Riverside Health Fund, member_id: RHF-118204, second_opinion_covered: yes}}
physical_materials:
  - {{kind: slides, description: H&E slides of the biopsy, count: 4}}
care_team:
  treating_oncologist: {{name: Dr. Omar Fictus, facility: Riverbend General Hospital, phone: 555-0101}}
request:
  primary_question: Is surgery still an option after three cycles of chemotherapy?
diagnosis:
  cancer_type: Lung adenocarcinoma
  date: 2026-06-02
  symptoms: [{{description: persistent cough, onset: 2026-04-01}}]
treatment: {{plan: Carboplatin and pemetrexed every three weeks.}}
medications: none
allergies: none
records:
  - {{kind: pathology-report, title: Surgical pathology report, date: 2026-06-02, file: records/pathology.pdf}}
  - {{kind: imaging-report, title: CT chest report, date: 2026-10-30, file: records/ct-report.pdf, id: ct-report}}
"""


def write_case(
    folder: str,
    comment: str,
    patient: str,
    records: list[str],
    guardians: str = "",
) -> None:
    text = HEAD.format(comment=comment, case_id=folder.upper()[:40])
    text += "".join(f"  - {r}\n" for r in records)
    text += guardians
    text += patient
    (HERE / folder).mkdir(parents=True, exist_ok=True)
    (HERE / folder / "case.yaml").write_text(text, encoding="utf-8")
    # the imaging report: the pathology report's patient lines, under another title
    lines = list(_PATHOLOGY[folder][0])
    lines[1] = "CT CHEST WITH CONTRAST"
    pdf(folder, "ct-report.pdf", [lines])


def patient_yaml(name: str, dob: str, mrns: list[str], other_names: list[str] | None = None) -> str:
    lines = ["patient:", f"  name: {name}", f"  date_of_birth: {dob}", "  phone: 555-0100"]
    if other_names:
        lines.append("  other_names: [" + ", ".join(other_names) + "]")
    lines.append("  mrns:")
    lines += [f'    - {{institution: Riverbend General Hospital, mrn: "{m}"}}' for m in mrns]
    return "\n".join(lines) + "\n"


_PATHOLOGY: dict[str, list[list[str]]] = {}


def pdf(folder: str, name: str, pages: list[list[str]]) -> None:
    if name == "pathology.pdf":
        _PATHOLOGY[folder] = pages
    path = HERE / folder / "records" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text_pdf(pages))


def header(name: str, dob: str, mrn: str, title: str) -> list[str]:
    return [
        "Riverbend General Hospital (fictional)",
        title,
        f"Patient: {name}    DOB: {dob}    MRN: {mrn}",
        "",
        "Findings are described below.",
    ]


def dicom(
    path: Path,
    name: str,
    pid: str,
    dob: str,
    *,
    n: int,
    sop: str = CT,
    modality: str = "CT",
    preamble: bool = True,
    charset: str | None = None,
    series: int = 1,
) -> None:
    """One small DICOM object: an 8x8 CT image, or (``sop``) a non-image object."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    path.parent.mkdir(parents=True, exist_ok=True)
    uid = f"{ROOT}{series}.{n}"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = f"{ROOT}1"
    ds.SeriesInstanceUID = f"{ROOT}2.{series}"
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = dob
    ds.StudyDate = "20261030"
    ds.Modality = modality
    ds.StudyDescription = "CT CHEST"
    ds.InstanceNumber = n
    if sop == CT:
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(128)
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:  # a data set alone: no preamble, no DICM, no file meta (as some old exports)
        del ds.file_meta
        ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
        data = path.read_bytes()
        assert data[128:132] != b"DICM"


def charset_file(name: str, dest: Path) -> None:
    from pydicom.data import get_charset_files

    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(get_charset_files(f"{name}.dcm")[0], dest)


def imaging(folder: str, sub: str) -> str:
    return (
        f"{{kind: imaging-study, title: CT chest images, date: 2026-10-30, "
        f"folder: records/{sub}, report: ct-report}}"
    )


def scan_jpeg(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (170, 220), 235).save(path, "JPEG", quality=60, dpi=(20, 20))


# --------------------------------------------------------------------------- the cases

PETER = ("Peter Doe", "1961-02-03", "40001")
PETER_DOB = "03/02/1961"
ROE = ("Richard Roe", "19440101", "55501")


def peter_case(folder: str, comment: str, records: list[str]) -> None:
    pdf(folder, "pathology.pdf", [header(PETER[0], PETER_DOB, PETER[2], "SURGICAL PATHOLOGY")])
    write_case(folder, comment, patient_yaml(PETER[0], PETER[1], [PETER[2]]), records)


def own_ct(folder: str, sub: str, count: int = 3) -> Path:
    base = HERE / folder / "records" / sub
    if base.exists():
        shutil.rmtree(base)
    for i in range(1, count + 1):
        dicom(base / f"IM{i:04d}.dcm", "Doe^Peter", "40001", "19610203", n=i)
    return base


def dicom_cases() -> None:
    # relatives in one folder: Doe^Archibald (other ID and birth date) beside Doe^Peter
    f = "identity-dicom-relatives"
    base = own_ct(f, "ct")
    for i in (4, 5):
        dicom(base / f"IM{i:04d}.dcm", "Doe^Archibald", "40002", "19330405", n=i)
    peter_case(f, "A relative's images in the patient's CT folder.", [imaging(f, "ct")])

    # the patient's own objects in all their shapes: name forms, an RT structure set,
    # a structured report, a file without the preamble, and files that are not DICOM
    f = "identity-dicom-own-objects"
    base = own_ct(f, "ct", 2)
    dicom(base / "IM0003.dcm", "DOE^PETER^J", "40001", "19610203", n=3)
    dicom(base / "RS0001.dcm", "Doe^Peter", "40001", "19610203", n=4, sop=RTSTRUCT,
          modality="RTSTRUCT", series=2)  # fmt: skip
    dicom(base / "SR0001.dcm", "Doe^Peter", "40001", "", n=5, sop=BASIC_SR, modality="SR",
          series=3)  # fmt: skip
    dicom(base / "NOPREAMB", "Doe^Peter", "40001", "19610203", n=6, preamble=False)
    (base / "README.TXT").write_text("Viewer software: run VIEWER.EXE\n")
    (base / "LOG.BIN").write_bytes(bytes(range(256)) * 2)
    peter_case(f, "Every DICOM object of the patient is read and accepted.", [imaging(f, "ct")])

    # two patients whose names share a prefix (Testperson^Ada, Testperson^Adam)
    f = "identity-dicom-shared-prefix"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    for i in (1, 2):
        dicom(base / f"IM{i:04d}.dcm", "Testperson^Ada", "00123", "19700506", n=i)
    dicom(base / "IM0003.dcm", "Testperson^Adam", "00991", "", n=3)
    pdf(f, "pathology.pdf", [header("Ada Testperson", "05/06/1970", "00123", "PATHOLOGY")])
    write_case(
        f,
        "Two patients whose names share a prefix in one folder.",
        patient_yaml("Ada Testperson", "1970-05-06", ["00123"]),
        [imaging(f, "ct")],
    )

    # an RT structure set of another patient
    f = "identity-dicom-rtstruct-other"
    base = own_ct(f, "ct", 2)
    dicom(base / "RS0001.dcm", "Roe^Richard", ROE[2], ROE[1], n=3, sop=RTSTRUCT,
          modality="RTSTRUCT", series=2)  # fmt: skip
    peter_case(f, "Another patient's RT structure set among the images.", [imaging(f, "ct")])

    # a file without the 128-byte preamble, of another patient
    f = "identity-dicom-no-preamble-other"
    base = own_ct(f, "ct", 2)
    dicom(base / "IM0003", "Roe^Richard", ROE[2], ROE[1], n=3, preamble=False)
    peter_case(f, "Another patient's image written without the preamble.", [imaging(f, "ct")])

    # anonymised headers: unverified, never a mismatch
    f = "identity-dicom-anonymised"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    dicom(base / "IM0001.dcm", "^^^^", "", "", n=1)
    dicom(base / "IM0002.dcm", "", "", "", n=2)
    dicom(base / "IM0003.dcm", "ANONYMOUS", "", "", n=3)
    peter_case(f, "Anonymised DICOM: unverified, never another patient.", [imaging(f, "ct")])


def pn_cases() -> None:
    # Japanese: Yamada^Tarou=山田^太郎=やまだ^たろう (and its half-width katakana variant)
    f = "identity-pn-japanese"
    charset_file("chrH31", HERE / f / "records" / "mr" / "chrH31.dcm")
    charset_file("chrH32", HERE / f / "records" / "mr" / "chrH32.dcm")
    pdf(f, "pathology.pdf", [header("Tarou Yamada", "12.03.1968", "H31EXAMPLE", "PATHOLOGY")])
    write_case(
        f,
        "Person Names with alphabetic, ideographic and phonetic groups.",
        patient_yaml("Tarou Yamada", "1968-03-12", ["H31EXAMPLE", "H32EXAMPLE"], ["山田 太郎"]),
        [imaging(f, "mr")],
    )
    f = "identity-pn-japanese-relative"
    charset_file("chrH31", HERE / f / "records" / "mr" / "chrH31.dcm")
    dicom(HERE / f / "records" / "mr" / "IM0002.dcm", "Yamada^Hanako=山田^花子=やまだ^はなこ",
          "H31EXAMPLE-2", "19700202", n=2, charset="ISO_IR 192")  # fmt: skip
    pdf(f, "pathology.pdf", [header("Tarou Yamada", "12.03.1968", "H31EXAMPLE", "PATHOLOGY")])
    write_case(
        f,
        "A relative (Yamada^Hanako=山田^花子) beside the patient's image.",
        patient_yaml("Tarou Yamada", "1968-03-12", ["H31EXAMPLE"], ["山田 太郎"]),
        [imaging(f, "mr")],
    )
    # Korean: Hong^Gildong=洪^吉洞=홍^길동
    f = "identity-pn-korean"
    charset_file("chrI2", HERE / f / "records" / "mr" / "chrI2.dcm")
    pdf(f, "pathology.pdf", [header("Gildong Hong", "1968-03-12", "I2EXAMPLE", "PATHOLOGY")])
    write_case(
        f,
        "A Korean Person Name in three groups.",
        patient_yaml("Gildong Hong", "1968-03-12", ["I2EXAMPLE"], ["홍길동"]),
        [imaging(f, "mr")],
    )
    f = "identity-pn-korean-other"
    charset_file("chrI2", HERE / f / "records" / "mr" / "chrI2.dcm")
    pdf(f, "pathology.pdf", [header("Gilsoon Hong", "1968-03-12", "I2EXAMPLE", "PATHOLOGY")])
    write_case(
        f,
        "Hong^Gildong's images in the case of Gilsoon Hong (홍길순).",
        patient_yaml("Gilsoon Hong", "1968-03-12", ["I2EXAMPLE"], ["홍길순"]),
        [imaging(f, "mr")],
    )
    # Chinese: Wang^XiaoDong=王^小東 (traditional) and =王^小东 (simplified, GB18030)
    f = "identity-pn-chinese"
    charset_file("chrX1", HERE / f / "records" / "mr" / "chrX1.dcm")
    charset_file("chrX2", HERE / f / "records" / "mr" / "chrX2.dcm")
    pdf(f, "pathology.pdf", [header("Wang XiaoDong", "1968-03-12", "X1EXAMPLE", "PATHOLOGY")])
    write_case(
        f,
        "A Chinese Person Name, traditional and simplified.",
        patient_yaml("Wang XiaoDong", "1968-03-12", ["X1EXAMPLE", "X2EXAMPLE"], ["王小東"]),
        [imaging(f, "mr")],
    )


def name_cases() -> None:
    # O'NEIL^MARY JANE for Mary-Jane O'Neil; MUELLER^HANS for Hans Müller
    f = "identity-names-transliterated"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    dicom(base / "IM0001.dcm", "O'NEIL^MARY JANE", "70001", "19680312", n=1)
    dicom(base / "IM0002.dcm", "ONEIL^MARYJANE", "70001", "19680312", n=2)
    pdf(f, "pathology.pdf", [header("O'NEIL, MARY JANE", "12/03/1968", "70001", "PATHOLOGY")])
    pdf(f, "consult.pdf", [header("Mary Jane ONeil", "March 12, 1968", "70001", "CONSULT")])
    write_case(
        f,
        "Apostrophes, hyphens and capitals: one patient.",
        patient_yaml("Mary-Jane O'Neil", "1968-03-12", ["70001"]),
        [
            imaging(f, "ct"),
            "{kind: consultation-letter, title: Consultation, date: 2026-10-01, "
            "file: records/consult.pdf}",
        ],
    )
    f = "identity-names-umlaut"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    dicom(base / "IM0001.dcm", "MUELLER^HANS", "70002", "19680312", n=1)
    dicom(base / "IM0002.dcm", "MULLER^HANS", "70002", "19680312", n=2)
    dicom(base / "IM0003.dcm", "Müller^Hans", "70002", "19680312", n=3, charset="ISO_IR 100")
    pdf(f, "pathology.pdf", [header("Hans Mueller", "12.03.1968", "70002", "PATHOLOGIE")])
    pdf(f, "consult.pdf", [header("MÜLLER, HANS", "12 mars 1968", "70002", "CONSULTATION")])
    write_case(
        f,
        "Müller, Mueller and Muller: one patient.",
        patient_yaml("Hans Müller", "1968-03-12", ["70002"]),
        [
            imaging(f, "ct"),
            "{kind: consultation-letter, title: Consultation, date: 2026-10-01, "
            "file: records/consult.pdf}",
        ],
    )
    f = "identity-names-other"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    dicom(base / "IM0001.dcm", "O'NEIL^MARY JANE", "70001", "19680312", n=1)
    dicom(base / "IM0002.dcm", "O'NEIL^MARTHA", "70003", "19400101", n=2)
    pdf(f, "pathology.pdf", [header("Mary-Jane O'Neil", "12/03/1968", "70001", "PATHOLOGY")])
    pdf(f, "consult.pdf", [header("Martha O'Neil", "01/01/1940", "70003", "CONSULT")])
    write_case(
        f,
        "The patient's mother, Martha O'Neil, in the CT folder and a letter.",
        patient_yaml("Mary-Jane O'Neil", "1968-03-12", ["70001"]),
        [
            imaging(f, "ct"),
            "{kind: consultation-letter, title: Consultation, date: 2026-10-01, "
            "file: records/consult.pdf}",
        ],
    )
    # name: 王小明 with other_names: [Wang Xiaoming]: English records match
    f = "identity-names-native-script"
    base = HERE / f / "records" / "ct"
    if base.exists():
        shutil.rmtree(base)
    dicom(base / "IM0001.dcm", "Wang^Xiaoming=王^小明", "70004", "19680312", n=1,
          charset="ISO_IR 192")  # fmt: skip
    pdf(f, "pathology.pdf", [header("Wang Xiaoming", "12 March 1968", "70004", "PATHOLOGY")])
    pdf(f, "consult.pdf", [header("Xiaoming Wang", "1968-03-12", "70004", "CONSULTATION")])
    write_case(
        f,
        "A patient named in Chinese, with the romanised name in other_names.",
        patient_yaml("王小明", "1968-03-12", ["70004"], ["Wang Xiaoming"]),
        [
            imaging(f, "ct"),
            "{kind: consultation-letter, title: Consultation, date: 2026-10-01, "
            "file: records/consult.pdf}",
        ],
    )
    f = "identity-names-native-script-other"
    pdf(f, "pathology.pdf", [header("Wang Xiaoming", "12 March 1968", "70004", "PATHOLOGY")])
    pdf(f, "consult.pdf", [header("Wang Xiaodong", "1975-07-01", "70009", "CONSULTATION")])
    write_case(
        f,
        "Another Wang's letter in the case of 王小明 (Wang Xiaoming).",
        patient_yaml("王小明", "1968-03-12", ["70004"], ["Wang Xiaoming"]),
        [
            "{kind: consultation-letter, title: Consultation, date: 2026-10-01, "
            "file: records/consult.pdf}",
        ],
    )


ADA = ("Ada Testperson", "05/06/1970", "00123")
GUARDIAN = """guardians:
  - {name: Bob Testperson, relationship: legal guardian, phone: 555-0102, date_of_birth: 1950-01-02}
"""


def ada_case(folder: str, comment: str, records: list[str], guardians: str = "") -> None:
    pdf(folder, "pathology.pdf", [header(*ADA, "SURGICAL PATHOLOGY")])
    write_case(
        folder, comment, patient_yaml("Ada Testperson", "1970-05-06", ["00123"]), records, guardians
    )


RELEASE = "{kind: release-authorization, title: Release form, date: 2026-11-01, file: records/release.pdf}"
INSURANCE = (
    "{kind: insurance-card, title: Insurance letter, date: 2026-11-01, file: records/insurance.pdf}"
)


def other_people_cases() -> None:
    f = "identity-guardian-release"
    pdf(f, "release.pdf", [[
        "AUTHORIZATION TO RELEASE MEDICAL RECORDS",
        "Patient name: Ada Testperson    Date of birth: 05/06/1970",
        "Signature of patient or legal representative: ________",
        "Printed name of signer: Bob Testperson    Date of birth: 1950-01-02",
        "Relationship to patient: legal guardian",
        "Guardian DOB: 02.01.1950",
        "DOB: January 2, 1950",
    ]])  # fmt: skip
    ada_case(f, "A release form carrying the guardian's date of birth.", [RELEASE], GUARDIAN)
    f = "identity-guardian-release-other"
    pdf(f, "release.pdf", [[
        "AUTHORIZATION TO RELEASE MEDICAL RECORDS",
        "Patient name: Tim Testperson    Date of birth: 2005-09-09",
        "Signature of parent or guardian: ________",
        "Printed name of signer: Bob Testperson    Date of birth: 1950-01-02",
    ]])  # fmt: skip
    ada_case(f, "A release form of another patient signed by the same guardian.", [RELEASE],
             GUARDIAN)  # fmt: skip
    f = "identity-insurance-subscriber"
    pdf(f, "insurance.pdf", [[
        "Riverside Health Fund - coverage confirmation",
        "Subscriber: Carl Roe    Subscriber DOB: 01/02/1950    Member ID: RHF-118204",
        "Policy holder date of birth: 1950-02-01",
        "",
        "Patient: Ada Testperson    DOB: 05/06/1970",
        "Second opinion consultations are covered.",
    ]])  # fmt: skip
    ada_case(f, "An insurance letter with the subscriber's date of birth.", [INSURANCE])
    f = "identity-insurance-subscriber-other"
    pdf(f, "insurance.pdf", [[
        "Riverside Health Fund - coverage confirmation",
        "Subscriber: Ada Testperson    Subscriber DOB: 05/06/1970    Member ID: RHF-118204",
        "",
        "Patient: Tim Roe    DOB: 2005-09-09",
        "Second opinion consultations are covered.",
    ]])  # fmt: skip
    ada_case(f, "An insurance letter about a dependant, the patient its subscriber.",
             [INSURANCE])  # fmt: skip


FAX = (
    "{kind: consultation-letter, title: Faxed consultation, date: 2026-10-01, file: records/fax.pdf"
)


def fax(folder: str) -> None:
    pdf(folder, "fax.pdf", [
        header(*ADA, "ONCOLOGY CONSULTATION (FAX 1/3)"),
        header("Bruno Otherman", "1958-12-11", "77881", "ONCOLOGY CONSULTATION (FAX 2/3)"),
        header(*ADA, "ONCOLOGY CONSULTATION (FAX 3/3)"),
    ])  # fmt: skip


def cjk_pdf(folder: str, name: str, lines: list[str]) -> None:
    """A record whose text layer is in Chinese (typst with the shipped Noto Sans CJK; no
    date in the file, so the bytes are the same on every run)."""
    import tempfile

    import typst

    from opinionkit.render.fonts import font_dirs

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "r.typ"
        body = "\n\n".join(lines)
        src.write_text(
            '#set document(date: none)\n#set text(font: ("Noto Sans CJK SC",), size: 11pt)\n'
            + body
            + "\n",
            encoding="utf-8",
        )
        data = typst.compile(str(src), font_paths=[str(d) for d in font_dirs()])
    path = HERE / folder / "records" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


CONSULT_ZH = (
    "{kind: consultation-letter, title: Consultation (Chinese), date: 2026-10-01, "
    "file: records/consult.pdf, language: zh}"
)


def chinese_cases() -> None:
    # records written in Chinese, for a patient named 王小明 (Wang Xiaoming)
    def head(name: str, dob: str, mrn: str, title: str) -> list[str]:
        return ["广州市第一人民医院（虚构）", title, f"患者姓名：{name}　　性别：男",
                f"出生日期：{dob}　　病历号：{mrn}", "诊断：肺腺癌。"]  # fmt: skip

    f = "identity-chinese-records"
    pdf(f, "pathology.pdf", [header("Wang Xiaoming", "12 March 1968", "70004", "PATHOLOGY")])
    cjk_pdf(f, "consult.pdf", head("王小明", "1968年3月12日", "70004", "会诊意见"))
    write_case(
        f,
        "A record in Chinese for 王小明, the English ones naming Wang Xiaoming.",
        patient_yaml("王小明", "1968-03-12", ["70004"], ["Wang Xiaoming"]),
        [CONSULT_ZH],
    )
    f = "identity-chinese-records-other"
    pdf(f, "pathology.pdf", [header("Wang Xiaoming", "12 March 1968", "70004", "PATHOLOGY")])
    cjk_pdf(f, "consult.pdf", head("张伟", "1970年1月1日", "88812", "会诊意见"))
    write_case(
        f,
        "Another patient's record in Chinese in the case of 王小明.",
        patient_yaml("王小明", "1968-03-12", ["70004"], ["Wang Xiaoming"]),
        [CONSULT_ZH],
    )


def ambiguous_cases() -> None:
    # a fax page naming no one but an ambiguous date of birth that is not the patient's
    f = "identity-fax-ambiguous-dob"
    pdf(f, "fax.pdf", [
        header(*ADA, "ONCOLOGY CONSULTATION (FAX 1/2)"),
        ["ONCOLOGY CONSULTATION (FAX 2/2)", "Re: B. Otherman", "DOB: 11/12/1958",
         "Seen today in clinic."],
    ])  # fmt: skip
    ada_case(f, "A fax page with only an ambiguous, foreign date of birth.", [FAX + "}"])
    # the patient's own date of birth written both ways round (4 March 1968)
    f = "identity-ambiguous-dob-own"
    pdf(f, "pathology.pdf", [header("Ada Testperson", "03/04/1968", "00123", "PATHOLOGY")])
    pdf(f, "fax.pdf", [header("Ada Testperson", "04/03/1968", "00123", "CONSULT"),
                       ["Page 2", "DOB: 4.3.1968", "Date of birth: 1968-03-04"]])  # fmt: skip
    write_case(
        f,
        "The patient's date of birth in US and European order.",
        patient_yaml("Ada Testperson", "1968-03-04", ["00123"]),
        [FAX + "}"],
    )
    # a subscriber block whose relationship line names the patient
    f = "identity-insurance-relationship"
    pdf(f, "insurance.pdf", [[
        "Riverside Health Fund - coverage confirmation",
        "Patient: Ada Testperson    DOB: 05/06/1970",
        "",
        "SUBSCRIBER INFORMATION",
        "Name: Carl Roe",
        "Address: 1 River Road, Riverbend",
        "Relationship to patient: spouse",
        "Date of birth: 1950-02-01",
        "Member ID: RHF-118204",
    ]])  # fmt: skip
    ada_case(f, "A subscriber block, with the relationship line, below the patient.", [INSURANCE])


def control_cases() -> None:
    f = "identity-fax-foreign-page"
    fax(f)
    ada_case(f, "A 3-page fax whose page 2 is another patient's.", [FAX + "}"])
    f = "identity-fax-withheld-page"
    fax(f)
    ada_case(
        f,
        "The same fax, page 2 withheld.",
        [FAX + ", withhold: {pages: [2], reason: page 2 is another patient's (fax mix-up)}}"],
    )
    f = "identity-fax-confirmed-not-enough"
    fax(f)
    ada_case(
        f,
        "identity_confirmed does not override a mismatch on enclosed pages.",
        [FAX + ", identity_confirmed: checked by Dr. Fictus against the chart}"],
    )
    f = "identity-scan-confirmed"
    scan_jpeg(HERE / f / "records" / "scan.jpg")
    ada_case(
        f,
        "A scan without text, its identity confirmed by the user.",
        [
            "{kind: lab-report, title: Blood count (scan), date: 2026-10-02, "
            "file: records/scan.jpg, identity_confirmed: checked by Dr. Fictus against the chart}"
        ],
    )


def main() -> None:
    dicom_cases()
    pn_cases()
    name_cases()
    other_people_cases()
    ambiguous_cases()
    chinese_cases()
    control_cases()


if __name__ == "__main__":
    main()

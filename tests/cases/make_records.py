"""Write the record files the test cases name. Deterministic; run from anywhere:

python tests/cases/make_records.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from pdfgen import report, text_pdf, write_text_pdf  # noqa: E402

NAME, DOB, MRN = "Ada Testperson", "05/06/1970", "00123"
OTHER = ("Bruno Otherman", "11/12/1958", "77881")


def own(folder: str, file: str, title: str, dob: str = DOB) -> None:
    write_text_pdf(HERE / folder / "records" / file, report(NAME, dob, MRN, title))


def dicom_series(folder: Path, name: str, pid: str, dob: str, count: int = 2) -> None:
    """A tiny CT series (8x8 pixels) with the given header identity."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    folder.mkdir(parents=True, exist_ok=True)
    root = "1.2.826.0.1.3680043.10.999."
    for i in range(1, count + 1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = f"{root}3.{i}"
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = f"{root}3.{i}"
        ds.StudyInstanceUID = f"{root}1"
        ds.SeriesInstanceUID = f"{root}2"
        ds.PatientName = name
        ds.PatientID = pid
        ds.PatientBirthDate = dob
        ds.StudyDate = "20261030"
        ds.Modality = "CT"
        ds.StudyDescription = "CT CHEST"
        ds.InstanceNumber = i
        ds.Rows = ds.Columns = 8
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = bytes(128)
        ds.save_as(folder / f"IM{i:04d}.dcm", enforce_file_format=True)


def scan_jpeg(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (170, 220), 235).save(path, "JPEG", quality=60, dpi=(20, 20))


def encrypted(path: Path, password: str) -> None:
    """AES draws random IVs, so an encrypted fixture is never byte-stable: keep it once made."""
    from pypdf import PdfReader, PdfWriter

    if path.exists() and b"/Encrypt" in path.read_bytes():
        return
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(report(NAME, DOB, MRN, "CT CHEST")))))
    w.encrypt(user_password=password, owner_password=None, algorithm="AES-256")
    w._ID = None
    buf = io.BytesIO()
    w.write(buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())


def main() -> None:
    for folder in (
        "base",
        "wrong-patient",
        "encrypted",
        "corrupt",
        "minor-no-guardian",
        "paths",
        "dates",
        "schema-errors",
        "missing-pathology",
        "dicom-other-patient",
        "scanned",
        "minor-adult-profile",
        "password",
        "stale-imaging",
        "missing-glyph",
        "cjk-names",
    ):
        dob = "05/06/2011" if folder.startswith("minor") else DOB
        own(folder, "pathology.pdf", "SURGICAL PATHOLOGY REPORT", dob)
        if folder not in ("encrypted", "password"):  # those are written encrypted below
            own(folder, "ct-report.pdf", "CT CHEST WITH CONTRAST", dob)
    # DICOM: the case's own study, and a study of another patient
    dicom_series(
        HERE / "dicom-other-patient" / "records" / "ct-own", "Testperson^Ada", "00123", "19700506"
    )
    dicom_series(
        HERE / "dicom-other-patient" / "records" / "ct-other", "Otherman^Bruno", "77881", "19581211"
    )
    (HERE / "dicom-other-patient" / "records" / "empty-cd").mkdir(parents=True, exist_ok=True)
    (HERE / "dicom-other-patient" / "records" / "empty-cd" / "README.TXT").write_text(
        "Viewer software\n"
    )
    # scans: a JPEG, a PNG named .jpg, and an exact duplicate of the pathology report
    scan_jpeg(HERE / "scanned" / "records" / "scan-labs.jpg")
    from PIL import Image

    Image.new("L", (40, 40), 200).save(HERE / "scanned" / "records" / "scan-note.jpg", "PNG")
    own("scanned", "pathology-copy.pdf", "SURGICAL PATHOLOGY REPORT")
    # password: an encrypted report whose password the case names by environment variable
    encrypted(HERE / "password" / "records" / "ct-report.pdf", "s3cret")
    # wrong patient: a report with another patient's name, DOB and MRN in the header
    write_text_pdf(
        HERE / "wrong-patient" / "records" / "pathology.pdf",
        report(*OTHER, "SURGICAL PATHOLOGY REPORT"),
    )
    # a two-page report whose second page belongs to someone else
    write_text_pdf(
        HERE / "wrong-patient" / "records" / "consult.pdf",
        report(NAME, DOB, MRN, "ONCOLOGY CONSULTATION") + report(*OTHER, "ONCOLOGY CONSULTATION"),
    )
    # encrypted: needs a password nobody gave
    encrypted(HERE / "encrypted" / "records" / "ct-report.pdf", "s3cret")
    # corrupt: truncated transfer, and a portal's HTML error page saved as .pdf
    good = text_pdf(report(NAME, DOB, MRN, "CT CHEST"))
    (HERE / "corrupt" / "records" / "ct-report.pdf").write_bytes(good[: len(good) * 6 // 10])
    (HERE / "corrupt" / "records" / "labs.pdf").write_bytes(
        b"<!DOCTYPE html><html><body>Session expired. Please log in.</body></html>\n"
    )
    (HERE / "corrupt" / "records" / "empty.pdf").write_bytes(b"")
    # paths: a folder where a file should be
    (HERE / "paths" / "records" / "a-folder.pdf").mkdir(parents=True, exist_ok=True)
    (HERE / "paths" / "records" / "a-folder.pdf" / ".keep").write_text("")
    # identity (issue 12): a wrong-patient and a right-patient folder for each rule
    import make_identity_records

    make_identity_records.main()


if __name__ == "__main__":
    main()

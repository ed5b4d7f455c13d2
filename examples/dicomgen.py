"""A tiny, deterministic, synthetic DICOM study for the examples (and nothing else).

Every UID derives from a fixed root and counters, pixel data is a small computed pattern,
so the files are byte-identical on every run. Headers carry the fictional patient's name,
ID and birth date exactly as a hospital CD would.
"""

from __future__ import annotations

import io
import math
from datetime import date
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.10.1234."
SOP_CLASSES = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
}


def _pixels(size: int, seed: int, slice_no: int) -> bytes:
    """A round 'body' with a brighter blob that moves between slices (16-bit, little end.)."""
    out = bytearray()
    c = size / 2
    for y in range(size):
        for x in range(size):
            r = math.hypot(x - c, y - c)
            v = 0 if r > c * 0.9 else 900 + (seed * 37 + x * 3 + y * 5) % 60
            if math.hypot(x - c * 0.7 - slice_no, y - c * 0.8) < size / 10:
                v += 400
            out += int(v).to_bytes(2, "little")
    return bytes(out)


def write_study(
    folder: Path,
    *,
    study_no: int,
    patient_name: str,
    patient_id: str,
    birth_date: date,
    sex: str,
    study_date: date,
    modality: str,
    study_description: str,
    series: list[tuple[str, int]],
    institution: str,
    size: int = 32,
) -> list[Path]:
    """Write ``series`` [(description, slices)] of one study into ``folder``; return the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    study_uid = f"{ROOT}{study_no}"
    sop_class = SOP_CLASSES[modality]
    for s_no, (s_desc, slices) in enumerate(series, start=1):
        series_uid = f"{study_uid}.{s_no}"
        for i in range(1, slices + 1):
            sop_uid = f"{series_uid}.{i}"
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = sop_class
            meta.MediaStorageSOPInstanceUID = sop_uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = f"{ROOT}0"
            ds = Dataset()
            ds.file_meta = meta
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.SOPClassUID = sop_class
            ds.SOPInstanceUID = sop_uid
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.PatientName = patient_name
            ds.PatientID = patient_id
            ds.PatientBirthDate = birth_date.strftime("%Y%m%d")
            ds.PatientSex = sex
            ds.StudyDate = ds.SeriesDate = study_date.strftime("%Y%m%d")
            ds.StudyTime = "101500"
            ds.AccessionNumber = f"ACC{study_no:03d}{study_date:%y%m%d}"
            ds.StudyID = f"{study_no}"
            ds.Modality = modality
            ds.StudyDescription = study_description
            ds.SeriesDescription = s_desc
            ds.InstitutionName = institution
            ds.SeriesNumber = s_no
            ds.InstanceNumber = i
            ds.ImagePositionPatient = [0.0, 0.0, float(i * 5)]
            ds.SliceThickness = 5.0
            ds.PixelSpacing = [1.0, 1.0]
            ds.Rows = ds.Columns = size
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.BitsAllocated = 16
            ds.BitsStored = 12
            ds.HighBit = 11
            ds.PixelRepresentation = 0
            ds.WindowCenter = 1000
            ds.WindowWidth = 1600
            ds.PixelData = _pixels(size, study_no * 10 + s_no, i)
            path = folder / f"SE{s_no:02d}" / f"IM{i:04d}"
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            data = buf.getvalue()
            # Rewrite only when the bytes differ, so repeated runs leave files untouched.
            if not (path.is_file() and path.read_bytes() == data):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            written.append(path)
    return written

"""DICOM folders: read headers only (never pixel data) with pydicom and summarise studies."""

from __future__ import annotations

import os
import stat
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from opinionkit.inspect.filetype import file_sha256

MAX_FILES = 50_000
"""A folder with more files is read only this far (and says so)."""

DICOMDIR_SOP = "1.2.840.10008.1.3.10"

_TAGS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyDate",
    "Modality",
    "StudyDescription",
    "SeriesDescription",
    "SOPClassUID",
    "AccessionNumber",
    "SOPInstanceUID",
]


@dataclass
class DicomSeries:
    series_uid: str
    modality: str | None = None
    description: str | None = None
    images: int = 0


@dataclass
class DicomStudy:
    study_uid: str
    date: date | None = None
    modalities: list[str] = field(default_factory=list)
    description: str | None = None
    accession: str | None = None
    series: dict[str, DicomSeries] = field(default_factory=dict)
    files: list[str] = field(default_factory=list, repr=False)
    """Paths relative to the folder, for copying the study beside the packet."""

    @property
    def series_count(self) -> int:
        return len(self.series)

    @property
    def image_count(self) -> int:
        return sum(s.images for s in self.series.values())


@dataclass(frozen=True)
class DuplicateUid:
    """Files of one folder that share a SOP Instance UID (one image, by the standard)."""

    files: list[str]
    """Paths relative to the folder, in folder order."""
    identical: bool
    """Byte-identical copies (one is enough); else different images claiming one UID."""


@dataclass
class DicomFolder:
    files: int = 0
    dicom_files: int = 0
    non_dicom: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    skipped_links: int = 0
    has_dicomdir: bool = False
    truncated: bool = False
    studies: dict[str, DicomStudy] = field(default_factory=dict)
    patient_names: set[str] = field(default_factory=set)
    patient_ids: set[str] = field(default_factory=set)
    birth_dates: set[str] = field(default_factory=set)
    unnamed_files: int = 0
    """DICOM files without any patient name, ID or birth date."""
    duplicate_uids: list[DuplicateUid] = field(default_factory=list)


def _dicom_date(value: object) -> date | None:
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


def _walk(folder: Path) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            full = Path(root) / name
            out.append((full, full.relative_to(folder).as_posix()))
    return out


def inspect_dicom_folder(folder: Path) -> DicomFolder:
    """Read the headers of every file under ``folder`` (or ``folder`` itself, if a file).

    Symlinks and special files inside the folder are skipped, never followed or opened.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    result = DicomFolder()
    by_uid: dict[str, list[str]] = {}
    entries = [(folder, folder.name)] if folder.is_file() else _walk(folder)
    for full, rel in entries:
        try:
            st = os.lstat(full)
        except OSError:
            result.unreadable.append(rel)
            continue
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            result.skipped_links += 1
            continue
        if result.files >= MAX_FILES:
            result.truncated = True
            break
        result.files += 1
        if st.st_size < 132:
            result.non_dicom.append(rel)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(full, stop_before_pixels=True, specific_tags=_TAGS)
        except InvalidDicomError:
            result.non_dicom.append(rel)
            continue
        except Exception:
            result.unreadable.append(rel)
            continue
        sop = str(
            getattr(ds.file_meta, "MediaStorageSOPClassUID", "") if hasattr(ds, "file_meta") else ""
        )
        if sop == DICOMDIR_SOP or rel.upper().endswith("DICOMDIR"):
            result.has_dicomdir = True
            continue
        result.dicom_files += 1
        try:
            name = str(ds.get("PatientName", "") or "").strip()
            pid = str(ds.get("PatientID", "") or "").strip()
            dob = str(ds.get("PatientBirthDate", "") or "").strip()
            if name:
                result.patient_names.add(name)
            if pid:
                result.patient_ids.add(pid)
            if dob:
                result.birth_dates.add(dob)
            if not (name or pid or dob):
                result.unnamed_files += 1
            study_uid = str(ds.get("StudyInstanceUID", "") or "unknown")
            study = result.studies.get(study_uid)
            if study is None:
                study = DicomStudy(
                    study_uid,
                    date=_dicom_date(ds.get("StudyDate")),
                    description=str(ds.get("StudyDescription", "") or "").strip() or None,
                    accession=str(ds.get("AccessionNumber", "") or "").strip() or None,
                )
                result.studies[study_uid] = study
            modality = str(ds.get("Modality", "") or "").strip() or None
            if modality and modality not in study.modalities:
                study.modalities.append(modality)
            series_uid = str(ds.get("SeriesInstanceUID", "") or "unknown")
            series = study.series.setdefault(
                series_uid,
                DicomSeries(
                    series_uid, modality, str(ds.get("SeriesDescription", "") or "").strip() or None
                ),
            )
            series.images += 1
            study.files.append(rel)
            sop_uid = str(ds.get("SOPInstanceUID", "") or "").strip()
            if sop_uid:
                by_uid.setdefault(sop_uid, []).append(rel)
        except Exception:
            result.unreadable.append(rel)
            result.dicom_files -= 1
    base = folder if folder.is_dir() else folder.parent
    for rels in by_uid.values():
        if len(rels) > 1:
            digests = {file_sha256(base / rel) for rel in rels}
            result.duplicate_uids.append(DuplicateUid(rels, identical=len(digests) == 1))
    return result

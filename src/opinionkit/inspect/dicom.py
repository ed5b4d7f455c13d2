"""DICOM folders: read headers only (never pixel data) with pydicom and summarise studies.

Every DICOM object is read, whatever it holds (images, structured reports, RT structure
sets, plans and doses, segmentations, presentation states, key object selections), and
so is a file written without the 128-byte preamble and ``DICM`` prefix -- but only when
its first bytes are a DICOM element of the file-meta or identifying group, so that a
random file is never taken for DICOM. Each file's patient (Person Name groups, ID, birth
date) is kept, for :func:`opinionkit.inspect.identity.dicom_evidence` to judge per file.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from opinionkit.inspect.filetype import file_sha256

MAX_FILES = 50_000
"""A folder with more files is read only this far (and says so)."""

DICOMDIR_SOP = "1.2.840.10008.1.3.10"

_TAGS = [
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "OtherPatientIDs",
    "OtherPatientNames",
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
    series_of: dict[str, str] = field(default_factory=dict, repr=False)
    """File (as in :attr:`files`) -> its series UID."""

    def without(self, withheld: Iterable[str]) -> DicomStudy | None:
        """The study as copied when ``withheld`` files stay out (None: nothing left)."""
        out = set(withheld) & set(self.files)
        if not out:
            return self
        kept = [f for f in self.files if f not in out]
        if not kept:
            return None
        series: dict[str, DicomSeries] = {}
        for f in kept:
            uid = self.series_of.get(f, "unknown")
            old = self.series.get(uid) or DicomSeries(uid)
            s = series.setdefault(uid, DicomSeries(uid, old.modality, old.description))
            s.images += 1
        modalities = [m for m in self.modalities if any(s.modality == m for s in series.values())]
        return DicomStudy(
            self.study_uid,
            self.date,
            modalities or list(self.modalities),
            self.description,
            self.accession,
            series,
            kept,
            {f: self.series_of[f] for f in kept if f in self.series_of},
        )

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


@dataclass(frozen=True)
class DicomPatient:
    """Whom one or more files name: their Person Name's component groups (alphabetic,
    ideographic, phonetic; each as family, given, middle, prefix, suffix, as pydicom's
    ``PersonName`` reads them), PatientID and PatientBirthDate."""

    name_groups: tuple[tuple[str, ...], ...] = ()
    patient_id: str = ""
    birth_date: str = ""
    other_ids: tuple[str, ...] = ()
    """OtherPatientIDs: the patient's numbers at other institutions."""
    other_name_groups: tuple[tuple[str, ...], ...] = ()
    """OtherPatientNames (a maiden name, an earlier spelling), as groups."""


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
    patients: dict[DicomPatient, list[str]] = field(default_factory=dict)
    """Each identity the files carry -> the files (relative paths) that carry it."""


def _dicom_date(value: object) -> date | None:
    text = str(value or "").strip()
    if len(text) == 8 and text.isdigit():
        try:
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            return None
    return None


_VRS = frozenset(
    b"AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)


def looks_like_dicom_without_preamble(head: bytes) -> bool:
    """Whether a file that lacks the preamble starts like a DICOM data set: an element
    (little- or big-endian) of group 0002 (file meta), 0008 (identifying) or 0010
    (patient), with a valid explicit VR or a plausible implicit length."""
    if len(head) < 8:
        return False
    orders: tuple[Literal["little", "big"], ...] = ("little", "big")
    for order in orders:
        group = int.from_bytes(head[0:2], order)
        element = int.from_bytes(head[2:4], order)
        if group not in (0x0002, 0x0008, 0x0010) or element > 0x1000:
            continue
        if head[4:6] in _VRS:
            return True
        length = int.from_bytes(head[4:8], order)
        if length < 0x10000 and length % 2 == 0:
            return True
    return False


def _person_name_groups(value: object) -> tuple[tuple[str, ...], ...]:
    """A Person Name's groups, each split into its components by pydicom's PersonName."""
    from pydicom.valuerep import PersonName

    if value is None:
        return ()
    if not isinstance(value, PersonName):
        value = PersonName(str(value))
    out = []
    for group in value.components:
        part = PersonName(group)  # one group: its alphabetic form is that group
        out.append(
            tuple(
                str(c or "").strip()
                for c in (
                    part.family_name,
                    part.given_name,
                    part.middle_name,
                    part.name_prefix,
                    part.name_suffix,
                )
            )
        )
    return tuple(out)


def _values(value: object) -> list[object]:
    """A multi-valued element's values (one value, or none, as a list)."""
    from pydicom.multival import MultiValue

    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


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
        if st.st_size < 16:
            result.non_dicom.append(rel)
            continue
        try:
            with open(full, "rb") as fh:
                head = fh.read(132)
        except OSError:
            result.unreadable.append(rel)
            continue
        force = head[128:132] != b"DICM"
        if force and not looks_like_dicom_without_preamble(head):
            result.non_dicom.append(rel)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(
                    full, stop_before_pixels=True, specific_tags=_TAGS, force=force
                )
            if force and not any(
                str(ds.get(t, "") or "").strip() for t in ("SOPClassUID", "StudyInstanceUID")
            ):
                raise InvalidDicomError("no identifying elements")
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
            raw_name = ds.get("PatientName", None)
            name = str(raw_name or "").strip()
            pid = str(ds.get("PatientID", "") or "").strip()
            dob = str(ds.get("PatientBirthDate", "") or "").strip()
            who = DicomPatient(
                _person_name_groups(raw_name),
                pid,
                dob,
                tuple(str(v).strip() for v in _values(ds.get("OtherPatientIDs")) if str(v).strip()),
                tuple(
                    g for v in _values(ds.get("OtherPatientNames")) for g in _person_name_groups(v)
                ),
            )
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
            study.series_of[rel] = series_uid
            result.patients.setdefault(who, []).append(rel)
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

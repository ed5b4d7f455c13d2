"""The imaging folder beside the packet: every DICOM study copied under neutral names.

Public API::

    copy_imaging(usable, dest, *, dicomdir, notes) -> list[ImagingCopy]

Each usable imaging-study record's files are copied to ``imaging/study-NN/IMnnnnn.dcm``
(no patient data in any path). Nothing is lost silently: byte-identical copies of one
image (``dicom.duplicate-file``, as ``check`` noted) are copied once and every source
file still appears in the manifest, pointing at that one copy; different files that
claim one SOP Instance UID (``dicom.duplicate-uid``) are all copied, and then no DICOMDIR
is written (a File-set can hold only one instance per UID; a note says so). With
``dicomdir``, the copies are laid out as a DICOM File-set (pydicom ``FileSet``); a header
element a DICOMDIR record needs and the export left out is filled in the copies only
(StudyDate from the record's ``date:``), and a note says which.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opinionkit.inspect.dicom import DicomStudy
from opinionkit.inspect.filetype import file_sha256
from opinionkit.models import RecordKind
from opinionkit.render import ImagingStudy

if TYPE_CHECKING:
    from opinionkit.check import UsableCase

__all__ = ["ImagingCopy", "copy_imaging"]


@dataclass
class ImagingCopy:
    """One imaging-study record as copied beside the packet."""

    record_index: int
    folder: str
    files: list[dict[str, Any]]
    """Per source file: ``source`` (as in the case), ``file`` (its copy), ``sha256``, ``size``."""
    studies: list[ImagingStudy]
    study_date: str | None = None
    """The record's date (YYYYMMDD), for a study whose headers give none."""


def copy_imaging(
    usable: UsableCase, dest: Path, *, dicomdir: bool, notes: list[str]
) -> list[ImagingCopy]:
    """Copy every usable DICOM study into ``dest/imaging`` (see the module docstring)."""
    out: list[ImagingCopy] = []
    mixed_uids = False
    for info in usable.records:
        rec = info.record
        if rec.kind is not RecordKind.IMAGING_STUDY:
            continue
        for fi in info.files:
            if not fi.usable or fi.dicom is None or fi.path is None or not fi.dicom.studies:
                continue
            kept = [
                k
                for k in (s.without(fi.withheld_files) for s in fi.dicom.studies.values())
                if k is not None
            ]
            if not kept:
                continue
            folder = f"imaging/study-{len(out) + 1:02d}"
            (dest / folder).mkdir(parents=True, exist_ok=True)
            copies = _copy_study(fi.path, fi.rel, kept, dest, folder)
            mixed_uids = mixed_uids or any(not g.identical for g in fi.dicom.duplicate_uids)
            studies = [
                ImagingStudy(
                    date=s.date,
                    modality=", ".join(s.modalities) or None,
                    description=s.description or rec.title,
                    series_count=s.series_count,
                    image_count=s.image_count,
                    location=f"{folder}/",
                    report_page=None,
                )
                for s in kept
            ]
            day = rec.date.strftime("%Y%m%d") if rec.date else None
            out.append(ImagingCopy(info.index, folder, copies, studies, day))
    if dicomdir and out:
        if mixed_uids:
            notes.append(
                "no DICOMDIR written: different DICOM files share a SOP Instance UID "
                "(dicom.duplicate-uid); all of them are in imaging/"
            )
        else:
            _lay_out_fileset(dest, out, notes)
    return out


def _copy_study(
    source: Path, rel: str, studies: list[DicomStudy], dest: Path, folder: str
) -> list[dict[str, Any]]:
    """Copy one folder's DICOM files (those not withheld); identical copies once, every
    source listed."""
    base = source if source.is_dir() else source.parent
    by_content: dict[str, str] = {}  # sha256 -> the copy made of it
    copied: list[dict[str, Any]] = []
    for study in studies:
        for name_in in study.files:
            src = base / name_in if source.is_dir() else source
            digest = file_sha256(src)
            target = by_content.get(digest)
            if target is None:
                target = f"{folder}/IM{len(by_content) + 1:05d}.dcm"
                shutil.copyfile(src, dest / target)
                os.chmod(dest / target, 0o600)
                by_content[digest] = target
            copied.append(
                {
                    "source": f"{rel}/{name_in}" if source.is_dir() else rel,
                    "file": target,
                    "sha256": digest,
                    "size": src.stat().st_size,
                }
            )
    return copied


def _lay_out_fileset(dest: Path, copies: list[ImagingCopy], notes: list[str]) -> None:
    moved = _write_dicomdir(dest / "imaging", copies, notes)
    if moved is None:
        return
    for im in copies:
        im.folder = "imaging"
        for entry in im.files:
            new = moved[entry["file"]]
            entry["file"] = new
            entry["copy_sha256"] = file_sha256(dest / new)
        for shown in im.studies:
            shown.location = "imaging/ (open DICOMDIR)"


def _cleanup_fileset(fs: Any) -> None:
    """pydicom stages instances in a TemporaryDirectory of its own; remove it now rather
    than at garbage collection (no temporary files left behind)."""
    stage = getattr(fs, "_stage", None)
    temp = stage.get("t") if isinstance(stage, dict) else None
    if temp is not None:
        temp.cleanup()


def _write_dicomdir(
    folder: Path, copies: list[ImagingCopy], notes: list[str]
) -> dict[str, str] | None:
    """Lay the copied studies out as a DICOM File-set with a DICOMDIR; returns where each
    copy went (relative to the packet folder), or None (the plain copy stays; a note
    says why)."""
    import pydicom
    from pydicom.fileset import FileSet

    defaults = {"StudyID": "1", "SeriesNumber": 1, "InstanceNumber": 1, "StudyTime": "000000"}
    study_date = {f["file"]: im.study_date for im in copies for f in im.files}
    filled: set[str] = set()
    fs = FileSet()
    staging = folder.with_name(folder.name + ".fileset")
    base = folder.parent
    added = []
    try:
        for n, path in enumerate(sorted(folder.rglob("*.dcm")), start=1):
            ds = pydicom.dcmread(path)
            day = study_date.get(path.relative_to(base).as_posix())
            wanted = {**defaults, **({"StudyDate": day} if day else {})}
            for keyword, value in wanted.items():
                if keyword not in ds or ds.get(keyword) in (None, ""):
                    setattr(ds, keyword, n if keyword == "InstanceNumber" else value)
                    filled.add(keyword)
            fs.add(ds)
            added.append((path, str(ds.SOPInstanceUID)))
        fs.write(staging)
        written = {str(inst.SOPInstanceUID): Path(inst.path) for inst in fs}
    except Exception as e:  # a DICOMDIR is a convenience, the copy stands
        shutil.rmtree(staging, ignore_errors=True)
        _cleanup_fileset(fs)
        notes.append(f"no DICOMDIR written: the DICOM headers do not allow it ({type(e).__name__})")
        return None
    _cleanup_fileset(fs)
    moved = {
        path.relative_to(base).as_posix(): (folder / written[uid].relative_to(staging.resolve()))
        .relative_to(base)
        .as_posix()
        for path, uid in added
    }
    shutil.rmtree(folder)
    staging.rename(folder)
    for root, _dirs, names in os.walk(folder):
        for name in names:
            os.chmod(Path(root) / name, 0o600)
    if filled:
        notes.append("DICOMDIR: filled missing " + ", ".join(sorted(filled)) + " in the copies")
    return moved

"""Every file a packet encloses: where it is, what it really is, whether it opens and
merges, and whose it is -- and, decided here once, whether it is withheld.

One path for every file: a record's file (or each of its ``files:``, or its DICOM
``folder:``) and its ``translation:`` go through the same steps, with findings keyed at
the file's own key (``records[2].file``, ``records[2].translation``):

1. **Locate** (:meth:`_FileChecker.locate`): the path is judged with ``lstat``/``stat``
   before anything is opened, so a FIFO, a device or a symlink out of the case folder is
   reported without ever being read; the size limit and the real type (first bytes).
2. **Read** in bounded worker processes (:func:`opinionkit.inspect.limits.run_many`),
   several at once, largest first: a PDF is inspected, its pages' identity judged and
   its mergeability tried the way the merge will meet it
   (:func:`opinionkit.pdf.assemble.merge_problem`); a scan is decoded; a DICOM folder's
   headers are read. Every file is hashed by the worker that read it.
3. **Judge** (:meth:`_FileChecker.judge`), in case order: findings from what was read.

A file with an error finding is **withheld**: :attr:`FileInfo.withheld` holds the code of
that finding, and :attr:`FileInfo.usable` is false. ``bundle``, ``export`` and
``request`` read that mark; nothing after ``check`` decides it again. Within a file, the
same place withholds parts: the pages a record's ``withhold:`` names
(:attr:`FileInfo.withheld_pages`), and the files of a DICOM folder that name another
patient or that ``withhold: files:`` names (:attr:`FileInfo.withheld_files`).

Each file's identity status (:attr:`FileInfo.identity`) is decided in judging it:
``verified`` (with its evidence, ``text`` or ``dicom``), ``confirmed`` (the record's
``identity_confirmed:`` accepted what the tool could not verify), ``not-verifiable``, or
``withheld``; :meth:`RecordInfo.identity` sums a record's files up.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from opinionkit.errors import OCR_INSTALL, InputError, LimitExceeded, OcrUnavailable
from opinionkit.findings import Finding, Severity
from opinionkit.inspect import identity as identity_mod
from opinionkit.inspect import images as images_mod
from opinionkit.inspect.dicom import DicomFolder, inspect_dicom_folder
from opinionkit.inspect.filetype import FileKind, Sniffed, extension_matches, file_sha256, sniff
from opinionkit.inspect.identity import Identity, TextEvidence, dicom_evidence, record_evidence
from opinionkit.inspect.images import ImageInfo
from opinionkit.inspect.limits import Limits, run_limited, run_many
from opinionkit.inspect.ocr import OcrLine, PageVerdict
from opinionkit.inspect.pdfinfo import MAX_TEXT_PAGES, PDFIUM, PYPDF, PdfInfo
from opinionkit.loading import LoadedCase
from opinionkit.models import Case, Record, RecordKind, RecordStatus
from opinionkit.options import DEFAULT_MAX_FILE_MB
from opinionkit.yamlsafe import path_str

__all__ = [
    "WRONG_PATIENT",
    "FileInfo",
    "FileRole",
    "RecordInfo",
    "check_files",
    "identity_of",
]

RECORD_KINDS = {FileKind.PDF, FileKind.JPEG, FileKind.PNG, FileKind.TIFF}
SCANS = {FileKind.JPEG, FileKind.PNG, FileKind.TIFF}

WRONG_PATIENT = frozenset({"identity.mismatch", "identity.dicom-mismatch"})
"""Finding codes that say a file may be another patient's."""

UNVERIFIED = frozenset(
    {
        "identity.not-verifiable",
        "identity.not-found",
        "identity.partial",
        "identity.dicom-unverified",
    }
)
"""Warnings that a record's ``identity_confirmed:`` turns into ``identity.confirmed`` (info)."""

_WITHHOLD_HINT = (
    "if only some pages are another patient's, leave them out with withhold: "
    "{pages: [...], reason: ...} on the record; otherwise remove the record or correct the "
    "case file (identity_confirmed: does not override a mismatch)"
)
_CONFIRM_HINT = (
    "once you have checked it, say who checked it and how with identity_confirmed: on the record"
)

KeyPath = tuple[str | int, ...]


class FileRole(str, Enum):
    RECORD = "record"
    """A record's own file (``file:``, one of ``files:``, or its DICOM ``folder:``)."""
    TRANSLATION = "translation"
    """A record's ``translation:`` (it follows its original in the packet)."""


@dataclass
class FileInfo:
    """What was learned about one file (kept for the bundle, the export and the manifest)."""

    rel: str
    """As written in the case file."""
    key: KeyPath = ()
    """Its key path in the case file, e.g. ``("records", 2, "translation")``."""
    role: FileRole = FileRole.RECORD
    path: Path | None = None
    """Resolved path, once the file was found and could be read."""
    size: int = 0
    sha256: str | None = None
    kind: FileKind | None = None
    pdf: PdfInfo | None = None
    image: ImageInfo | None = None
    dicom: DicomFolder | None = None
    pages: int = 0
    password: str | None = field(default=None, repr=False)
    ocr: dict[int, PageVerdict] | None = None
    """When OCR read the file's image-only pages: each one's verdict (1-based page)."""
    ocr_lines: dict[int, tuple[OcrLine, ...]] = field(default_factory=dict, repr=False)
    """The lines OCR read on those pages, for the packet's text layer (in memory only;
    filled when the check was asked for them)."""
    withheld: str | None = None
    """The code of the error finding that keeps this file out of the packet (another
    patient's, unreadable, unmergeable ...), or None."""
    withheld_pages: frozenset[int] = frozenset()
    """Pages of this file (1-based) that the record's ``withhold:`` leaves out."""
    withheld_files: dict[str, str] = field(default_factory=dict)
    """For a DICOM folder: files inside it left out of the copy -> why (a finding code,
    or ``withhold`` for those the record's ``withhold: files:`` names)."""
    identity_status: str | None = None
    """As judged: ``verified``, ``confirmed`` or ``not-verifiable`` (see :attr:`identity`)."""
    evidence: tuple[str, ...] = ()
    """What verified it: ``text``, ``dicom``."""

    @property
    def usable(self) -> bool:
        """Whether the packet encloses it (read, and no error found in it)."""
        return self.withheld is None and self.path is not None and self.kept_pages != 0

    @property
    def kept_pages(self) -> int | None:
        """Pages the packet encloses (None: not a paged file)."""
        if self.dicom is not None or not self.pages:
            return None
        return self.pages - len(self.withheld_pages)

    @property
    def identity(self) -> str:
        if self.withheld is not None or self.path is None or self.kept_pages == 0:
            return "withheld"
        return self.identity_status or "not-verifiable"

    @property
    def key_str(self) -> str:
        return path_str(self.key)


@dataclass
class RecordInfo:
    index: int
    record: Record
    files: list[FileInfo] = field(default_factory=list)
    translation: FileInfo | None = None

    @property
    def pages(self) -> int:
        return sum(f.pages for f in self.files)

    @property
    def all_files(self) -> list[FileInfo]:
        """The record's files, then its translation."""
        return [*self.files, *([self.translation] if self.translation else [])]

    def identity(self) -> dict[str, Any]:
        """The record's identity status, as ``check --format json`` and the manifest show
        it: ``withheld`` when none of its files is enclosed; else ``not-verifiable`` when
        any enclosed file is, ``confirmed`` when any was accepted by
        ``identity_confirmed:``, else ``verified`` (with the evidence)."""
        rec = self.record
        enclosed = [f for f in self.files if f.identity != "withheld"]
        statuses = {f.identity for f in enclosed}
        if not self.files or rec.status is RecordStatus.REQUESTED:
            status = "requested"
        elif not enclosed:
            status = "withheld"
        elif "not-verifiable" in statuses:
            status = "not-verifiable"
        elif "confirmed" in statuses:
            status = "confirmed"
        else:
            status = "verified"
        evidence = sorted({e for f in enclosed for e in f.evidence})
        out: dict[str, Any] = {"status": status, "evidence": evidence}
        if rec.identity_confirmed:
            out["confirmed_by"] = rec.identity_confirmed
        if rec.withhold is not None:
            out["withhold"] = {
                "pages": sorted(rec.withhold.page_set),
                "files": list(rec.withhold.files),
                "reason": rec.withhold.reason,
            }
        withheld_files = [
            {"path": f"{f.rel}/{name}", "code": code}
            for f in self.files
            for name, code in f.withheld_files.items()
        ]
        if withheld_files:
            out["withheld_files"] = withheld_files
        return out


def identity_of(case: Case) -> Identity:
    """Who the records should name: the patient of ``case``."""
    return Identity(
        name=case.patient.name,
        date_of_birth=case.patient.date_of_birth,
        mrns=tuple(m.mrn for m in case.patient.mrns),
        preferred_name=case.patient.preferred_name,
        other_names=tuple(case.patient.other_names),
        guardian_names=tuple(g.name for g in case.guardians),
        guardian_dobs=tuple(g.date_of_birth for g in case.guardians if g.date_of_birth),
    )


# --------------------------------------------------------------------------- worker jobs


@dataclass(frozen=True)
class _PdfRead:
    """What a worker learned of one PDF."""

    sha256: str
    info: PdfInfo
    evidence: list[TextEvidence]
    """Identity evidence for each non-blank page (in page order)."""
    merge_problem: str | None
    """Why the merge could not take the file (None: it can, or it does not open)."""


def _read_pdf(
    path: str,
    password: str | None,
    seconds: float,
    who: Identity,
    engine: str,
    trial_write: bool = True,
) -> _PdfRead:
    """Run in a bounded worker: inspect the PDF, judge whose its pages are, and try it
    the way the merge will meet it -- the texts and the open file are at hand here, and
    the workers run side by side while the main process waits. Without ``trial_write``
    the trial opens the file and reads its page tree and navigation, but writes nothing
    (see :class:`~opinionkit.options.CheckOptions`)."""
    from opinionkit.inspect import pdf as pdf_mod
    from opinionkit.pdf.assemble import merge_problem

    sha = file_sha256(path)
    info = pdf_mod._inspect(path, password, seconds, engine)
    evidence = record_evidence([t for t in info.page_texts if t.strip()], who)
    problem = None
    if info.opened and info.pages and not info.limit:
        problem = merge_problem(Path(path), password if info.encrypted else None, write=trial_write)
    return _PdfRead(sha, info, evidence, problem)


def _read_image(path: str) -> tuple[str, ImageInfo]:
    """Run in a bounded worker: the scan's SHA-256, and whether (and how) it decodes."""
    return file_sha256(path), images_mod._inspect(path)


def _read_dicom(path: str) -> DicomFolder:
    """Run in a bounded worker: a DICOM folder's (or file's) headers."""
    return inspect_dicom_folder(Path(path))


def warm() -> None:
    """Import what the workers need to read a PDF (qpdf, PDFium and the merge's own
    reader: ~0.1 s): once here, before they fork, instead of once in every worker. Not at
    import: a case without PDFs, and every command that reads no record file, never
    needs them. ``--jobs`` calls it before forking its workers."""
    import opinionkit.inspect.pdf
    import opinionkit.pdf.assemble  # noqa: F401


# --------------------------------------------------------------------------- locating


def _resolve(case_dir: Path, rel: str) -> tuple[Path | None, str | None, str | None]:
    """(path, problem code, message). No file is opened here."""
    if os.path.isabs(rel) or rel.startswith("~"):
        return (
            None,
            "file.absolute-path",
            "the path is absolute; write it relative to the case file",
        )
    if ".." in Path(rel).parts:
        return None, "file.outside-case", "the path leaves the case folder ('..')"
    candidate = case_dir / rel
    try:
        real = candidate.resolve(strict=False)
        base = case_dir.resolve(strict=False)
    except (OSError, RuntimeError):
        return None, "file.outside-case", "the path cannot be resolved (symlink loop?)"
    if not real.is_relative_to(base):
        return (
            None,
            "file.outside-case",
            "the path leads out of the case folder (through a symlink)",
        )
    return candidate, None, None


def _stat_problem(path: Path, want_dir: bool) -> tuple[str, str] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file.not-found", "the file does not exist"
    except PermissionError:
        return "file.unreadable", "the file cannot be read (permission denied)"
    except OSError:
        return "file.unreadable", "the file cannot be read"
    if want_dir:
        if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
            return None
        return "file.not-regular", "expected a DICOM folder or file; this is a special file"
    if stat.S_ISDIR(st.st_mode):
        return "file.is-folder", "expected a file; this is a folder"
    if not stat.S_ISREG(st.st_mode):
        return (
            "file.not-regular",
            "not a regular file (a pipe, socket or device); it was not opened",
        )
    if not os.access(path, os.R_OK):
        return "file.unreadable", "the file cannot be read (permission denied)"
    return None


_STAT_HINTS = {
    "file.not-found": "check the spelling and the folder; paths are relative to the case file",
}
_WRONG_TYPE = {
    FileKind.HTML: "a web page (often a portal's error or login page saved by mistake)",
    FileKind.ZIP: "a ZIP archive",
    FileKind.DICOM: "a DICOM image; put DICOM files in an imaging-study record's folder",
}
_DAMAGED_HINT = "download it again or ask the sender for a new copy"
_HOSTILE_HINT = "the file may be damaged or hostile; ask the sender for a new copy"


@dataclass
class _Slot:
    """One file to check, with what locating it found."""

    info: FileInfo
    record: Record
    owner: RecordInfo | None = None
    sniffed: Sniffed | None = None
    job: tuple[Any, tuple[Any, ...]] | None = None
    result: Any = None


# --------------------------------------------------------------------------- the checker


def check_files(
    loaded: LoadedCase,
    limits: Limits,
    max_file_mb: int = DEFAULT_MAX_FILE_MB,
    ocr: str = "auto",
    ocr_lines: bool = False,
    *,
    trial_write: bool = True,
) -> tuple[list[RecordInfo], list[Finding]]:
    """Check every file of every received record (and its translation). ``ocr`` is
    "auto", "on" or "off" (``--ocr``); ``ocr_lines`` keeps the lines OCR read (for the
    packet's text layer), reading cached scans again; ``trial_write`` as in
    :class:`~opinionkit.options.CheckOptions`."""
    checker = _FileChecker(loaded, limits, max_file_mb, ocr, ocr_lines, trial_write)
    return checker.run()


class _FileChecker:
    def __init__(
        self,
        loaded: LoadedCase,
        limits: Limits,
        max_file_mb: int,
        ocr: str = "auto",
        ocr_lines: bool = False,
        trial_write: bool = True,
    ) -> None:
        from opinionkit.inspect.ocr import available

        if ocr == "on" and not available():
            raise OcrUnavailable
        self.ocr_mode = ocr
        self.ocr_on = ocr == "on" or (ocr == "auto" and available())
        self.ocr_lines = ocr_lines
        self.trial_write = trial_write
        assert loaded.case is not None
        self.loaded = loaded
        self.case = loaded.case
        self.case_dir = loaded.path.parent
        self.limits = limits
        self.max_bytes = max_file_mb * 1024 * 1024
        self.max_file_mb = max_file_mb
        self.who = identity_of(self.case)
        identity_mod.prepare(self.who)  # before the workers fork: they inherit it
        self.findings: list[Finding] = []
        self.first_holder: dict[str, str] = {}
        """SHA-256 -> key path of the first file holding it (for duplicates)."""

    def run(self) -> tuple[list[RecordInfo], list[Finding]]:
        infos: list[RecordInfo] = []
        slots: list[_Slot] = []
        for i, rec in enumerate(self.case.records):
            info = RecordInfo(i, rec)
            infos.append(info)
            if rec.status is RecordStatus.REQUESTED:
                continue
            key_name = "folder" if rec.folder else ("files" if rec.files else "file")
            for j, rel in enumerate(rec.paths):
                key: KeyPath = ("records", i, key_name, *((j,) if rec.files else ()))
                fi = FileInfo(rel, key)
                info.files.append(fi)
                slots.append(_Slot(fi, rec, info))
            if rec.translation:
                info.translation = FileInfo(
                    rec.translation, ("records", i, "translation"), FileRole.TRANSLATION
                )
                slots.append(_Slot(info.translation, rec, info))
        located = [slot for slot in slots if self.locate(slot)]
        self.read(located)
        if self.ocr_on:
            from opinionkit.checks.scans import read_scans

            read_scans(self, located)
        for slot in slots:
            if slot.job is not None:
                self.judge(slot)
        for info in infos:
            self.judge_withhold(info)
        return infos, self.findings

    # ---- findings: the one place a file is withheld

    def finding(
        self,
        fi: FileInfo,
        code: str,
        severity: Severity,
        message: str,
        hint: str | None = None,
        *,
        files: list[str] | None = None,
    ) -> None:
        """Record a finding; an error withholds the file -- or, when ``files`` (inside a
        DICOM folder) are given, only those files."""
        self.findings.append(
            Finding(code, severity, message, hint, path=fi.rel, **self.loaded.where(fi.key))
        )
        if severity is not Severity.ERROR:
            return
        if files is not None:
            for name in files:
                fi.withheld_files.setdefault(name, code)
        elif fi.withheld is None:
            fi.withheld = code

    def unverified(
        self, slot: _Slot, code: str, message: str, hint: str, *, files: list[str] | None = None
    ) -> None:
        """What the tool cannot verify: a warning -- or, when the record says who confirmed
        its identity (``identity_confirmed:``), ``identity.confirmed`` (info)."""
        fi = slot.info
        if slot.record.identity_confirmed:
            self.finding(
                fi,
                "identity.confirmed",
                Severity.INFO,
                f"{message}; accepted, as identity_confirmed says who checked it ({code})",
            )
            if fi.identity_status != "not-verifiable":
                fi.identity_status = "confirmed"
            return
        self.finding(fi, code, Severity.WARNING, message, f"{hint}; {_CONFIRM_HINT}")
        fi.identity_status = "not-verifiable"

    def page_offset(self, slot: _Slot) -> int:
        """Pages of the record's files before this one (``withhold:`` numbers the record's
        pages across its files); 0 for a translation (never withheld by page)."""
        if slot.owner is None or slot.info.role is FileRole.TRANSLATION:
            return 0
        return self.page_offset_in(slot.owner, slot.info)

    @staticmethod
    def page_offset_in(info: RecordInfo, fi: FileInfo) -> int:
        before = 0
        for f in info.files:
            if f is fi:
                break
            before += f.pages
        return before

    def set_withheld_pages(self, slot: _Slot) -> None:
        """The one place pages are withheld: the record's ``withhold: pages:`` on this file."""
        fi, w = slot.info, slot.record.withhold
        if w is None or fi.role is FileRole.TRANSLATION or not fi.pages:
            return
        first = self.page_offset(slot)
        fi.withheld_pages = frozenset(
            p - first for p in w.page_set if first < p <= first + fi.pages
        )

    def judge_withhold(self, info: RecordInfo) -> None:
        """After the record's files: a ``withhold:`` naming pages or files it does not
        have is an error (a typo may leave another patient's page in); what ``withhold:``
        and ``identity_confirmed:`` did is shown."""
        rec = info.record
        if rec.status is RecordStatus.REQUESTED:
            return
        if rec.identity_confirmed and not any(f.identity == "confirmed" for f in info.all_files):
            self.findings.append(
                Finding(
                    "identity.confirmed",
                    Severity.INFO,
                    "identity_confirmed: is recorded in the manifest; nothing in this record "
                    "needed it (it never overrides a mismatch)",
                    **self.loaded.where(("records", info.index, "identity_confirmed")),
                )
            )
        w = rec.withhold
        if w is None:
            return
        where = self.loaded.where(("records", info.index, "withhold"))
        if w.pages and all(f.path is not None and f.pages for f in info.files):
            total = info.pages
            beyond = sorted(p for p in w.page_set if p > total)
            if beyond:
                self.findings.append(
                    Finding(
                        "withhold.no-such-page",
                        Severity.ERROR,
                        f"withhold: names page(s) {page_ranges(beyond)}, but the record has "
                        f"{total} page(s)",
                        "check the page numbers (the record's pages are numbered from 1, "
                        "across its files)",
                        **where,
                    )
                )
        for fi in info.files:
            if fi.dicom is None:
                continue
            known = {f for study in fi.dicom.studies.values() for f in study.files}
            missing = [f for f in w.files if f not in known]
            if missing:
                self.findings.append(
                    Finding(
                        "withhold.no-such-file",
                        Severity.ERROR,
                        f"withhold: names {len(missing)} file(s) that are not DICOM files of "
                        f"the folder: {_first(missing)}",
                        "name the files relative to the record's folder, as check lists them",
                        **where,
                    )
                )
        kept_out = sorted(
            self.page_offset_in(info, f) + p for f in info.files for p in f.withheld_pages
        )
        if kept_out:
            self.findings.append(
                Finding(
                    "withhold.pages",
                    Severity.INFO,
                    f"page(s) {page_ranges(kept_out)} of the record are left out of the packet "
                    "(withhold:, with its reason in the manifest)",
                    **where,
                )
            )
        if any(f.pages and f.withheld_pages and not f.kept_pages for f in info.files):
            self.findings.append(
                Finding(
                    "withhold.whole-file",
                    Severity.INFO,
                    "withhold: leaves out every page of a file; the record is listed as withheld",
                    **where,
                )
            )

    # ---- 1. locate

    def locate(self, slot: _Slot) -> bool:
        """Judge the path without opening the file; prepare the worker job. False when
        there is nothing to read (a finding says why)."""
        fi = slot.info
        path, code, msg = _resolve(self.case_dir, fi.rel)
        if path is None:
            assert code and msg
            self.finding(
                fi,
                code,
                Severity.ERROR,
                msg,
                "copy the file into the case folder and refer to it by a relative path",
            )
            return False
        want_dir = slot.record.kind is RecordKind.IMAGING_STUDY and fi.role is FileRole.RECORD
        problem = _stat_problem(path, want_dir)
        if problem:
            self.finding(fi, problem[0], Severity.ERROR, problem[1], _STAT_HINTS.get(problem[0]))
            return False
        if want_dir:
            slot.job = (_read_dicom, (str(path),))
            fi.path = path
            return True
        fi.size = path.stat().st_size
        if fi.size > self.max_bytes:
            self.finding(
                fi,
                "file.too-large",
                Severity.ERROR,
                f"the file is larger than the {self.max_file_mb} MB limit",
                "split it, or raise the limit with --max-file-mb",
            )
            return False
        sniffed = sniff(path)
        fi.kind = sniffed.kind
        slot.sniffed = sniffed
        if sniffed.kind is FileKind.EMPTY:
            self.finding(
                fi,
                "file.empty",
                Severity.ERROR,
                "the file is empty (0 bytes)",
                "download or scan it again",
            )
            return False
        if sniffed.kind not in RECORD_KINDS:
            what = _WRONG_TYPE.get(sniffed.kind, "not a PDF or a JPEG, PNG or TIFF image")
            self.finding(
                fi,
                "file.wrong-type",
                Severity.ERROR,
                f"the file is {what}",
                "download the record again as PDF, or scan it",
            )
            return False
        if sniffed.kind is FileKind.PDF:
            fi.password = self.password(slot)
            slot.job = (
                _read_pdf,
                (
                    str(path),
                    fi.password,
                    self.limits.seconds,
                    self.who,
                    PDFIUM,
                    self.trial_write,
                ),
            )
        else:
            slot.job = (_read_image, (str(path),))
        fi.path = path
        return True

    def password(self, slot: _Slot) -> str | None:
        """The record's password (``password_env``), for its files and its translation
        alike (both come from the same sender); None when unset."""
        env = slot.record.password_env
        return os.environ.get(env) if env else None

    # ---- 2. read, in bounded workers

    def read(self, slots: list[_Slot]) -> None:
        """Every job in the workers at once: DICOM folders first (many small files),
        then the largest files, so that no worker is left with a big one at the end."""
        jobs: dict[tuple[Any, ...], list[_Slot]] = {}
        for slot in slots:
            assert slot.job is not None
            fn, args = slot.job
            jobs.setdefault((fn, *args), []).append(slot)
        order = sorted(jobs, key=lambda k: (k[0] is not _read_dicom, -jobs[k][0].info.size))
        if any(k[0] is _read_pdf for k in order):
            warm()
        done = run_many([(k[0], k[1:]) for k in order], limits=self.limits)
        for key, result in zip(order, done, strict=True):
            if (
                isinstance(result, LimitExceeded)
                and result.what == "memory"
                and key[0] is _read_pdf
            ):
                # PDFium has no decompression limits of its own: read the text with pypdf
                result = _retry(_read_pdf, (*key[1:5], PYPDF, *key[6:]), self.limits)
            for slot in jobs[key]:
                slot.result = result

    # ---- 3. judge

    def judge(self, slot: _Slot) -> None:
        fi, result = slot.info, slot.result
        if fi.kind is FileKind.PDF:
            self.judge_pdf(slot, result)
        elif fi.kind in SCANS:
            self.judge_image(slot, result)
        else:
            self.judge_dicom(slot, result)

    def note_duplicate(self, fi: FileInfo) -> None:
        assert fi.sha256 is not None
        first = self.first_holder.get(fi.sha256)
        if first is None:
            self.first_holder[fi.sha256] = path_str(fi.key[:2])
            return
        self.finding(
            fi,
            "file.duplicate",
            Severity.WARNING,
            f"the file is an exact copy of the file of {first}",
            "remove one of the two records",
        )

    def judge_extension(self, fi: FileInfo, path: Path) -> None:
        assert fi.kind is not None
        if not extension_matches(path, fi.kind):
            self.finding(
                fi,
                "file.extension-mismatch",
                Severity.WARNING,
                f"the file's content is {fi.kind.value.upper()} but its name says otherwise",
                "rename it; opinionkit goes by the content",
            )

    def judge_pdf(self, slot: _Slot, result: Any) -> None:
        fi, rec = slot.info, slot.record
        assert fi.path is not None and slot.sniffed is not None
        path = fi.path
        self.judge_extension(fi, path)
        if rec.password_env and fi.role is FileRole.RECORD and fi.password is None:
            self.finding(
                fi,
                "pdf.password-unset",
                Severity.ERROR,
                f"the environment variable {rec.password_env} named by password_env is not set",
                f"set it before running: export {rec.password_env}=...",
            )
        if isinstance(result, LimitExceeded):
            self.finding(
                fi,
                "pdf.limit",
                Severity.ERROR,
                f"reading the PDF exceeded the {result.limit} limit",
                _HOSTILE_HINT,
            )
            return
        if not isinstance(result, _PdfRead):  # the reader itself failed (its class named)
            fi.sha256 = file_sha256(path)
            self.note_duplicate(fi)
            info = PdfInfo(error=str(result))
            read = _PdfRead(fi.sha256, info, [], None)
        else:
            read = result
            fi.sha256 = read.sha256
            self.note_duplicate(fi)
        info = read.info
        fi.pdf = info
        if info.limit:
            self.finding(
                fi,
                "pdf.limit",
                Severity.ERROR,
                f"reading the PDF exceeded the {info.limit} limit",
                _HOSTILE_HINT,
            )
            return
        if info.needs_password and not info.password_ok:
            if not rec.password_env:
                self.finding(
                    fi,
                    "pdf.encrypted",
                    Severity.ERROR,
                    "the PDF is encrypted and needs a password to open",
                    "put the password in an environment variable and name it with "
                    "password_env: (never write the password in the case file)",
                )
            elif fi.password is not None:
                self.finding(
                    fi,
                    "pdf.wrong-password",
                    Severity.ERROR,
                    f"the password in {rec.password_env} does not open the PDF",
                    "check the password with the sender",
                )
            return
        if not info.opened:
            why = (
                "it ends abruptly (an interrupted download or copy)"
                if _truncated(path)
                else "its structure is damaged"
            )
            self.finding(
                fi,
                "pdf.unreadable",
                Severity.ERROR,
                f"the PDF cannot be opened: {why} ({info.error or 'unknown error'})",
                _DAMAGED_HINT,
            )
            return
        if not info.pages:
            self.finding(fi, "pdf.no-pages", Severity.ERROR, "the PDF has no pages", _DAMAGED_HINT)
            return
        fi.pages = info.pages
        self.set_withheld_pages(slot)
        if read.merge_problem is not None:
            self.finding(
                fi,
                "pdf.unmergeable",
                Severity.ERROR,
                f"the PDF opens, but cannot be merged into the packet: {read.merge_problem}",
                _DAMAGED_HINT,
            )
        self.judge_pdf_notes(fi, slot.sniffed, info)
        self.judge_text_identity(slot, info, read.evidence)

    def judge_pdf_notes(self, fi: FileInfo, sniffed: Sniffed, info: PdfInfo) -> None:
        if info.encrypted and not info.needs_password:
            self.finding(
                fi,
                "pdf.encrypted-open",
                Severity.INFO,
                "the PDF is encrypted but opens without a password; the packet copy will not be",
            )
        if info.repaired:
            self.finding(
                fi,
                "pdf.repaired",
                Severity.WARNING,
                "the PDF is damaged; it was repaired while reading — check its pages in the packet",
                "if pages look wrong, ask the sender for a new copy",
            )
        if sniffed.leading_junk:
            self.finding(
                fi,
                "pdf.leading-junk",
                Severity.INFO,
                "the file has bytes before the PDF header (e.g. from a mail gateway); they are ignored",
            )
        dropped = [
            name
            for name, flag in (
                ("attachments", info.has_attachments),
                ("form fields", info.has_forms),
                ("scripts", info.has_javascript),
                ("digital signatures", info.has_signatures),
            )
            if flag
        ]
        if dropped:
            self.finding(
                fi,
                "pdf.drops-content",
                Severity.INFO,
                f"the PDF has {', '.join(dropped)}, which the packet does not carry over",
                "send the original file separately if the reviewers need them",
            )
        if info.bad_pages:
            self.finding(
                fi,
                "pdf.damaged-pages",
                Severity.WARNING,
                f"the content of page(s) {page_ranges(info.bad_pages)} cannot be decoded "
                "(damaged, or too large to read safely)",
                "look at those pages in the packet; ask the sender for a new copy if they are blank",
            )

    def judge_text_identity(self, slot: _Slot, info: PdfInfo, evidence: list[TextEvidence]) -> None:
        fi = slot.info
        if info.text_checked < info.pages:
            why = (
                f"(at most {MAX_TEXT_PAGES} pages are read)"
                if info.text_checked >= MAX_TEXT_PAGES
                else "within the time limit"
            )
            self.unverified(
                slot,
                "identity.partial",
                f"only the first {info.text_checked} of {info.pages} pages were read for the "
                f"identity check {why}",
                "look through the remaining pages yourself, or raise --timeout",
            )
        if fi.ocr is not None:
            from opinionkit.checks.scans import judge_scans

            judge_scans(self, slot)
        if info.text_pages == 0 and info.text_checked:
            if fi.ocr is None:
                self.unverified(
                    slot,
                    "identity.not-verifiable",
                    f"the PDF has no text layer (a scan: page(s) 1–{info.text_checked}), so "
                    "whose record it is cannot be verified",
                    "look through it and confirm every page belongs to the patient"
                    + self.ocr_hint(),
                )
            return
        texts = [n for n, t in enumerate(info.page_texts, start=1) if t.strip()]
        if len(evidence) != len(texts):  # made in the worker for these very pages
            evidence = record_evidence([t for t in info.page_texts if t.strip()], self.who)
        found_any = any(v.verdict == "match" for v in (fi.ocr or {}).values())
        mismatch_pages: list[int] = []
        hidden_pages: list[int] = []
        kinds: set[str] = set()
        doubtful: list[int] = []
        for n, ev in zip(texts, evidence, strict=True):
            withheld = n in fi.withheld_pages
            if ev.doubtful_dobs and ev.verdict != "mismatch" and not withheld:
                doubtful.append(n)
            if ev.verdict == "mismatch":
                if withheld:
                    hidden_pages.append(n)
                    continue
                mismatch_pages.append(n)
                kinds.update(ev.fields)
            elif not withheld and (ev.name or ev.dob or ev.mrn):
                found_any = True
        first = self.page_offset(slot)
        if hidden_pages:
            self.finding(
                fi,
                "identity.mismatch-withheld",
                Severity.INFO,
                f"page(s) {page_ranges([first + p for p in hidden_pages])} of the record show "
                "another patient; withhold: leaves them out of the packet",
            )
        if mismatch_pages:
            self.finding(
                fi,
                "identity.mismatch",
                Severity.ERROR,
                f"page(s) {page_ranges([first + p for p in mismatch_pages])} of the record "
                f"show a different {_and(kinds)} than the patient's: "
                "this record may belong to another patient",
                _WITHHOLD_HINT,
            )
        elif found_any:
            if fi.identity_status is None:
                fi.identity_status = "verified"
            fi.evidence = tuple(sorted({*fi.evidence, "text"}))
        elif not doubtful:
            self.unverified(
                slot,
                "identity.not-found",
                "neither the patient's name, date of birth nor MRN appears in the record's text",
                "confirm the record is the patient's; add the MRN used by its facility under "
                "patient.mrns, or another form of the name under patient.other_names",
            )
        if doubtful:
            self.unverified(
                slot,
                "identity.doubtful-dob",
                f"page(s) {page_ranges([first + p for p in doubtful])} of the record show a "
                "date of birth that is not the patient's in either day/month order (an "
                "ambiguous numeric date, so not by itself proof of another patient)",
                "look at those pages; if they are another patient's, leave them out with "
                "withhold: {pages: [...], reason: ...}",
            )

    def judge_image(self, slot: _Slot, result: Any) -> None:
        fi = slot.info
        assert fi.path is not None
        self.judge_extension(fi, fi.path)
        if isinstance(result, LimitExceeded):
            self.finding(
                fi,
                "image.limit",
                Severity.ERROR,
                f"reading the image exceeded the {result.limit} limit",
                "scan the page again",
            )
            return
        if isinstance(result, tuple):
            fi.sha256, info = result
        else:  # the reader itself failed (its class named)
            fi.sha256, info = file_sha256(fi.path), ImageInfo(error=str(result))
        self.note_duplicate(fi)
        fi.image = info
        if info.error or info.limit:
            self.finding(
                fi,
                "image.unreadable",
                Severity.ERROR,
                f"the image cannot be read ({info.limit or info.error})",
                "scan the page again",
            )
            return
        fi.pages = max(1, info.frames)
        self.set_withheld_pages(slot)
        if fi.kept_pages == 0:
            return
        if fi.ocr is not None:
            from opinionkit.checks.scans import judge_scans

            judge_scans(self, slot)
            return
        self.unverified(
            slot,
            "identity.not-verifiable",
            f"a scanned image (page(s) 1–{fi.pages}) has no text, so whose record it is "
            "cannot be verified",
            "look at it and confirm it belongs to the patient" + self.ocr_hint(),
        )

    def ocr_hint(self) -> str:
        """Why a scan was not read, for a not-verifiable hint."""
        if self.ocr_mode == "off":
            return " (OCR is off: --ocr off)"
        return f"; to read scans with OCR, install it: {OCR_INSTALL}"

    def judge_dicom(self, slot: _Slot, result: Any) -> None:
        fi = slot.info
        if not isinstance(result, DicomFolder):
            what = result.limit if isinstance(result, LimitExceeded) else "reader"
            self.finding(
                fi,
                "dicom.limit",
                Severity.ERROR,
                f"reading the DICOM headers exceeded the {what} limit"
                if isinstance(result, LimitExceeded)
                else f"the DICOM headers cannot be read ({result})",
                "copy the study again from the CD or download (raise --timeout for a very large study)",
            )
            return
        folder = result
        fi.dicom = folder
        if folder.dicom_files == 0:
            self.finding(
                fi,
                "dicom.empty",
                Severity.ERROR,
                "the imaging folder holds no readable DICOM files",
                "copy the whole study from the CD or download (the folder with the DICOM files)",
            )
            return
        if folder.unreadable:
            self.finding(
                fi,
                "dicom.unreadable",
                Severity.WARNING,
                f"{len(folder.unreadable)} file(s) in the imaging folder are damaged DICOM",
                "copy the study again from the CD or download",
            )
        for group in folder.duplicate_uids:
            shown = ", ".join(group.files[:4]) + (" …" if len(group.files) > 4 else "")
            if group.identical:
                self.finding(
                    fi,
                    "dicom.duplicate-file",
                    Severity.INFO,
                    f"{len(group.files)} files are byte-identical copies of one image "
                    f"({shown}); it is copied once",
                )
            else:
                self.finding(
                    fi,
                    "dicom.duplicate-uid",
                    Severity.WARNING,
                    f"{len(group.files)} different files share one SOP Instance UID ({shown}); "
                    "both are copied, but viewers and a DICOMDIR can hold only one",
                    "ask radiology for a clean export of the study",
                )
        self.judge_dicom_identity(slot, folder)

    def judge_dicom_identity(self, slot: _Slot, folder: DicomFolder) -> None:
        """Every file on its own: the files naming someone else are withheld (named by
        path), the rest of the folder is copied; all of them: the folder is withheld."""
        fi, rec = slot.info, slot.record
        asked = set(rec.withhold.files) if rec.withhold else set()
        for name in sorted(asked):
            fi.withheld_files[name] = "withhold"
        ev = dicom_evidence(folder, self.who)
        total = sum(len(files) for files in folder.patients.values())
        foreign = [f for f in ev.mismatched if f not in asked]
        hidden = [f for f in ev.mismatched if f in asked]
        unverified = [f for f in ev.unverified if f not in asked]
        fields = ", ".join(ev.fields)
        if hidden:
            self.finding(
                fi,
                "identity.mismatch-withheld",
                Severity.INFO,
                f"{len(hidden)} DICOM file(s) name another patient ({fields}): "
                f"{_first(hidden)}; withhold: leaves them out of the imaging copy",
            )
        if foreign:
            whole = len(foreign) + len(hidden) + len(asked - set(ev.mismatched)) >= total
            self.finding(
                fi,
                "identity.dicom-mismatch",
                Severity.ERROR,
                f"{len(foreign)} of {total} DICOM file(s) name a different patient "
                f"({fields}): {_first(foreign)}"
                + (
                    ": these images may belong to another patient"
                    if whole
                    else "; they are left out of the imaging copy, the rest is copied"
                ),
                "check the CD's label; remove the files that are not the patient's, or "
                "leave them out with withhold: {files: [...], reason: ...} on the record",
                files=None if whole else foreign,
            )
        if unverified:
            self.unverified(
                slot,
                "identity.dicom-unverified",
                f"{len(unverified)} of {total} DICOM file(s) do not identify the patient "
                f"(anonymised or incomplete headers): {_first(unverified)}",
                "confirm with radiology that this study is the patient's",
            )
        elif total > len(set(ev.mismatched) | asked):
            if fi.identity_status is None:
                fi.identity_status = "verified"
            fi.evidence = ("dicom",)


def _first(names: list[str], shown: int = 3) -> str:
    """A count's first few file names (never more than ``shown``)."""
    head = ", ".join(names[:shown])
    return head + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _retry(fn: Any, args: tuple[Any, ...], limits: Limits) -> Any:
    try:
        return run_limited(fn, *args, limits=limits)
    except (LimitExceeded, RuntimeError, InputError) as e:
        return e


def _truncated(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 2048))
        return b"%%EOF" not in fh.read()


def _and(kinds: set[str]) -> str:
    ordered = [k for k in ("patient name", "date of birth", "MRN") if k in kinds]
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " and " + ordered[-1]


def page_ranges(pages: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1–3, 7"``."""
    out: list[str] = []
    start = prev = pages[0]
    for p in [*pages[1:], 0]:
        if p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}–{prev}")
        start = prev = p
    return ", ".join(out)

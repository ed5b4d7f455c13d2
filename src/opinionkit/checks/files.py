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
``request`` read that mark; nothing after ``check`` decides it again.
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
from opinionkit.inspect import images as images_mod
from opinionkit.inspect import pdf as pdf_mod
from opinionkit.inspect.dicom import DicomFolder, inspect_dicom_folder
from opinionkit.inspect.filetype import FileKind, Sniffed, extension_matches, file_sha256, sniff
from opinionkit.inspect.identity import Identity, TextEvidence, dicom_evidence, record_evidence
from opinionkit.inspect.images import ImageInfo
from opinionkit.inspect.limits import Limits, run_limited, run_many
from opinionkit.inspect.ocr import OcrLine, PageVerdict
from opinionkit.inspect.pdf import MAX_TEXT_PAGES, PYPDF, PdfInfo
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

    @property
    def usable(self) -> bool:
        """Whether the packet encloses it (read, and no error found in it)."""
        return self.withheld is None and self.path is not None

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


def identity_of(case: Case) -> Identity:
    """Who the records should name: the patient of ``case``."""
    return Identity(
        name=case.patient.name,
        date_of_birth=case.patient.date_of_birth,
        mrns=tuple(m.mrn for m in case.patient.mrns),
        preferred_name=case.patient.preferred_name,
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
    path: str, password: str | None, seconds: float, who: Identity, engine: str
) -> _PdfRead:
    """Run in a bounded worker: inspect the PDF, judge whose its pages are, and try it
    the way the merge will meet it -- the texts and the open file are at hand here, and
    the workers run side by side while the main process waits."""
    from opinionkit.pdf.assemble import merge_problem

    sha = file_sha256(path)
    info = pdf_mod._inspect(path, password, seconds, engine)
    evidence = record_evidence([t for t in info.page_texts if t.strip()], who)
    problem = None
    if info.opened and info.pages and not info.limit:
        problem = merge_problem(Path(path), password if info.encrypted else None)
    return _PdfRead(sha, info, evidence, problem)


def _read_image(path: str) -> tuple[str, ImageInfo]:
    """Run in a bounded worker: the scan's SHA-256, and whether (and how) it decodes."""
    return file_sha256(path), images_mod._inspect(path)


def _read_dicom(path: str) -> DicomFolder:
    """Run in a bounded worker: a DICOM folder's (or file's) headers."""
    return inspect_dicom_folder(Path(path))


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
) -> tuple[list[RecordInfo], list[Finding]]:
    """Check every file of every received record (and its translation). ``ocr`` is
    "auto", "on" or "off" (``--ocr``); ``ocr_lines`` keeps the lines OCR read (for the
    packet's text layer), reading cached scans again."""
    checker = _FileChecker(loaded, limits, max_file_mb, ocr, ocr_lines)
    return checker.run()


class _FileChecker:
    def __init__(
        self,
        loaded: LoadedCase,
        limits: Limits,
        max_file_mb: int,
        ocr: str = "auto",
        ocr_lines: bool = False,
    ) -> None:
        from opinionkit.inspect.ocr import available

        if ocr == "on" and not available():
            raise OcrUnavailable
        self.ocr_mode = ocr
        self.ocr_on = ocr == "on" or (ocr == "auto" and available())
        self.ocr_lines = ocr_lines
        assert loaded.case is not None
        self.loaded = loaded
        self.case = loaded.case
        self.case_dir = loaded.path.parent
        self.limits = limits
        self.max_bytes = max_file_mb * 1024 * 1024
        self.max_file_mb = max_file_mb
        self.who = identity_of(self.case)
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
                slots.append(_Slot(fi, rec))
            if rec.translation:
                info.translation = FileInfo(
                    rec.translation, ("records", i, "translation"), FileRole.TRANSLATION
                )
                slots.append(_Slot(info.translation, rec))
        located = [slot for slot in slots if self.locate(slot)]
        self.read(located)
        if self.ocr_on:
            from opinionkit.checks.scans import read_scans

            read_scans(self, located)
        for slot in slots:
            if slot.job is not None:
                self.judge(slot)
        return infos, self.findings

    # ---- findings: the one place a file is withheld

    def finding(
        self, fi: FileInfo, code: str, severity: Severity, message: str, hint: str | None = None
    ) -> None:
        self.findings.append(
            Finding(code, severity, message, hint, path=fi.rel, **self.loaded.where(fi.key))
        )
        if severity is Severity.ERROR and fi.withheld is None:
            fi.withheld = code

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
                (str(path), fi.password, self.limits.seconds, self.who, pdf_mod.PDFIUM),
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
        done = run_many([(k[0], k[1:]) for k in order], limits=self.limits)
        for key, result in zip(order, done, strict=True):
            if (
                isinstance(result, LimitExceeded)
                and result.what == "memory"
                and key[0] is _read_pdf
            ):
                # PDFium has no decompression limits of its own: read the text with pypdf
                result = _retry(_read_pdf, (*key[1:5], PYPDF), self.limits)
            for slot in jobs[key]:
                slot.result = result

    # ---- 3. judge

    def judge(self, slot: _Slot) -> None:
        fi, result = slot.info, slot.result
        if fi.kind is FileKind.PDF:
            self.judge_pdf(slot, result)
        elif fi.kind in SCANS:
            self.judge_image(fi, result)
        else:
            self.judge_dicom(fi, result)

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
        if read.merge_problem is not None:
            self.finding(
                fi,
                "pdf.unmergeable",
                Severity.ERROR,
                f"the PDF opens, but cannot be merged into the packet: {read.merge_problem}",
                _DAMAGED_HINT,
            )
        self.judge_pdf_notes(fi, slot.sniffed, info)
        self.judge_text_identity(fi, info, read.evidence)

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

    def judge_text_identity(
        self, fi: FileInfo, info: PdfInfo, evidence: list[TextEvidence]
    ) -> None:
        if info.text_checked < info.pages:
            why = (
                f"(at most {MAX_TEXT_PAGES} pages are read)"
                if info.text_checked >= MAX_TEXT_PAGES
                else "within the time limit"
            )
            self.finding(
                fi,
                "identity.partial",
                Severity.WARNING,
                f"only the first {info.text_checked} of {info.pages} pages were read for the "
                f"identity check {why}",
                "look through the remaining pages yourself, or raise --timeout",
            )
        if fi.ocr is not None:
            from opinionkit.checks.scans import judge_scans

            judge_scans(self, fi)
        if info.text_pages == 0 and info.text_checked:
            if fi.ocr is None:
                self.finding(
                    fi,
                    "identity.not-verifiable",
                    Severity.WARNING,
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
        kinds: set[str] = set()
        for n, ev in zip(texts, evidence, strict=True):
            if ev.name or ev.dob or ev.mrn:
                found_any = True
            if ev.other_dobs or ev.other_mrns or ev.other_names:
                mismatch_pages.append(n)
                if ev.other_dobs:
                    kinds.add("date of birth")
                if ev.other_mrns:
                    kinds.add("MRN")
                if ev.other_names:
                    kinds.add("patient name")
        if mismatch_pages:
            self.finding(
                fi,
                "identity.mismatch",
                Severity.ERROR,
                f"page(s) {page_ranges(mismatch_pages)} show a different {_and(kinds)} "
                "than the patient's: this record may belong to another patient",
                "remove the pages that are not the patient's, or correct the case file",
            )
        elif not found_any:
            self.finding(
                fi,
                "identity.not-found",
                Severity.WARNING,
                "neither the patient's name, date of birth nor MRN appears in the record's text",
                "confirm the record is the patient's; add the MRN used by its facility under "
                "patient.mrns",
            )

    def judge_image(self, fi: FileInfo, result: Any) -> None:
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
        if fi.ocr is not None:
            from opinionkit.checks.scans import judge_scans

            judge_scans(self, fi)
            return
        self.finding(
            fi,
            "identity.not-verifiable",
            Severity.WARNING,
            f"a scanned image (page(s) 1–{fi.pages}) has no text, so whose record it is "
            "cannot be verified",
            "look at it and confirm it belongs to the patient" + self.ocr_hint(),
        )

    def ocr_hint(self) -> str:
        """Why a scan was not read, for a not-verifiable hint."""
        if self.ocr_mode == "off":
            return " (OCR is off: --ocr off)"
        return f"; to read scans with OCR, install it: {OCR_INSTALL}"

    def judge_dicom(self, fi: FileInfo, result: Any) -> None:
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
        ev = dicom_evidence(folder, self.who)
        if ev.verdict == "mismatch":
            self.finding(
                fi,
                "identity.dicom-mismatch",
                Severity.ERROR,
                "the DICOM headers name a different patient (name, ID or date of birth) than "
                "the case: these images may belong to another patient",
                "check the CD's label; remove the study if it is not the patient's",
            )
        elif ev.verdict in ("none", "weak"):
            self.finding(
                fi,
                "identity.dicom-unverified",
                Severity.WARNING,
                "the DICOM headers do not identify the patient (anonymised or incomplete)",
                "confirm with radiology that this study is the patient's",
            )


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

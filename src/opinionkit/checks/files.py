"""Record files: where they are, what they really are, whether they open, and whose they are.

Paths are judged with ``lstat``/``stat`` before anything is opened, so a FIFO, a device or
a symlink out of the case folder is reported without ever being read. PDFs, images and
DICOM are inspected by :mod:`opinionkit.inspect` (bounded in time and memory).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opinionkit.errors import LimitExceeded
from opinionkit.findings import Finding, Severity
from opinionkit.inspect.dicom import DicomFolder, inspect_dicom_folder
from opinionkit.inspect.filetype import FileKind, Sniffed, extension_matches, file_sha256, sniff
from opinionkit.inspect.identity import Identity, TextEvidence, dicom_evidence, record_evidence
from opinionkit.inspect.images import ImageInfo, inspect_image
from opinionkit.inspect.limits import Limits
from opinionkit.inspect.pdf import (
    MAX_TEXT_PAGES,
    PdfInfo,
    inspect_pdf,
    inspect_pdf_without_pdfium,
)
from opinionkit.loading import LoadedCase
from opinionkit.models import Case, Record, RecordKind, RecordStatus

RECORD_KINDS = {FileKind.PDF, FileKind.JPEG, FileKind.PNG, FileKind.TIFF}
DEFAULT_MAX_FILE_MB = 200


@dataclass
class FileInfo:
    """What was learned about one file of a record (kept for the bundle and the manifest)."""

    rel: str
    """As written in the case file."""
    path: Path | None = None
    """Resolved path, when the file is usable."""
    size: int = 0
    sha256: str | None = None
    kind: FileKind | None = None
    pdf: PdfInfo | None = None
    image: ImageInfo | None = None
    dicom: DicomFolder | None = None
    pages: int = 0
    password: str | None = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.path is not None and self.pages > 0


@dataclass
class RecordInfo:
    index: int
    record: Record
    files: list[FileInfo] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return sum(f.pages for f in self.files)


def _resolve(case_dir: Path, rel: str) -> tuple[Path | None, str | None, str | None]:
    """(path, problem code, message). No file is opened here."""
    if os.path.isabs(rel) or rel.startswith("~"):
        return (
            None,
            "file.absolute-path",
            "the path is absolute; write it relative to the case file",
        )
    parts = Path(rel).parts
    if ".." in parts:
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


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _hashed(fn: Any, path: str, *args: Any) -> tuple[str, Any]:
    """Run in a worker: the file's SHA-256 and what ``fn(path, *args)`` makes of it."""
    return file_sha256(path), fn(path, *args)


@dataclass(frozen=True)
class _Judged:
    """A PDF's inspection and its pages' identity evidence, both made in the worker."""

    info: PdfInfo
    evidence: list[TextEvidence]


def _inspect_and_judge(path: str, password: str | None, seconds: float, who: Identity) -> _Judged:
    """Run in a worker: inspect the PDF, then judge whose its pages are (the texts are
    at hand there, and the workers run side by side while the main process waits)."""
    from opinionkit.inspect import pdf as pdf_mod

    info = pdf_mod._inspect(path, password, seconds)
    texts = [t for t in info.page_texts if t.strip()]
    return _Judged(info, record_evidence(texts, who))


def check_files(
    loaded: LoadedCase, limits: Limits, max_file_mb: int = DEFAULT_MAX_FILE_MB
) -> tuple[list[RecordInfo], list[Finding]]:
    case = loaded.case
    assert case is not None
    case_dir = loaded.path.parent
    who = Identity(
        name=case.patient.name,
        date_of_birth=case.patient.date_of_birth,
        mrns=tuple(m.mrn for m in case.patient.mrns),
        preferred_name=case.patient.preferred_name,
    )
    infos: list[RecordInfo] = []
    findings: list[Finding] = []
    hashes: dict[str, str] = {}  # sha256 -> key path of first record holding it
    insp = _Inspector(limits)
    insp.prefetch(case, case_dir, max_file_mb, who)

    for i, rec in enumerate(case.records):
        info = RecordInfo(i, rec)
        infos.append(info)
        if rec.status is RecordStatus.REQUESTED:
            continue
        key_name = "folder" if rec.folder else ("files" if rec.files else "file")
        rels = rec.paths
        for j, rel in enumerate(rels):
            key: tuple[str | int, ...] = ("records", i, key_name) + ((j,) if rec.files else ())
            fi = FileInfo(rel)
            info.files.append(fi)
            findings.extend(
                _check_one(loaded, case, rec, fi, key, case_dir, insp, max_file_mb, who, hashes)
            )
        if rec.translation:
            key = ("records", i, "translation")
            path, code, msg = _resolve(case_dir, rec.translation)
            problem = (code, msg) if code else _stat_problem(path, False) if path else None
            if problem:
                findings.append(
                    _f(
                        loaded,
                        problem[0],
                        Severity.ERROR,
                        f"translation: {problem[1]}",
                        key,
                        rec.translation,
                    )
                )
    return infos, findings


def _f(
    loaded: LoadedCase,
    code: str,
    severity: Severity,
    message: str,
    key: tuple[str | int, ...],
    rel: str | None,
    hint: str | None = None,
) -> Finding:
    return Finding(code, severity, message, hint, path=rel, **loaded.where(key))


class _Inspector:
    """Reads record files in bounded child processes, several at a time.

    :meth:`prefetch` starts every PDF and image of the case at once (one worker per CPU);
    the checks below then take the results in case order, so findings stay in order.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.done: dict[tuple[str, str, str | None], object] = {}
        self.hashes: dict[str, str] = {}
        """SHA-256 of the files the workers read, by path."""
        self.evidence: dict[tuple[str, str, str | None], list[TextEvidence]] = {}
        """Identity evidence for the non-blank pages of each PDF the workers read."""

    def sha256(self, path: Path) -> str:
        known = self.hashes.get(str(path))
        return known if known is not None else file_sha256(path)

    def prefetch(self, case: Case, case_dir: Path, max_file_mb: int, who: Identity) -> None:
        from opinionkit.inspect import images as images_mod
        from opinionkit.inspect.limits import run_many

        jobs: list[tuple[Any, tuple[Any, ...]]] = []
        keys: list[tuple[str, str, str | None]] = []
        for rec in case.records:
            if rec.status is RecordStatus.REQUESTED or rec.kind is RecordKind.IMAGING_STUDY:
                continue
            password = os.environ.get(rec.password_env) if rec.password_env else None
            for rel in rec.paths:
                path, _code, _ = _resolve(case_dir, rel)
                if path is None or _stat_problem(path, False) is not None:
                    continue
                if path.stat().st_size > max_file_mb * 1024 * 1024:
                    continue
                kind = sniff(path).kind
                if kind is FileKind.PDF:
                    key = ("pdf", str(path), password)
                    job: tuple[Any, tuple[Any, ...]] = (
                        _inspect_and_judge,
                        (str(path), password, self.limits.seconds, who),
                    )
                elif kind in (FileKind.JPEG, FileKind.PNG, FileKind.TIFF):
                    key = ("image", str(path), None)
                    job = (images_mod._inspect, (str(path),))
                else:
                    continue
                if key not in keys:
                    keys.append(key)
                    jobs.append(job)
        # Largest files first, so that no worker is left with a big one at the end; each
        # worker also hashes the file it reads (SHA-256 for duplicates and the manifest).
        order = sorted(range(len(jobs)), key=lambda i: -_size(keys[i][1]))
        done = run_many([(_hashed, (jobs[i][0], *jobs[i][1])) for i in order], limits=self.limits)
        results: list[Any] = [None] * len(jobs)
        for i, result in zip(order, done, strict=True):
            if isinstance(result, tuple):
                self.hashes[keys[i][1]], results[i] = result
            else:
                results[i] = result
        for key, result in zip(keys, results, strict=True):
            if isinstance(result, _Judged):
                self.evidence[key] = result.evidence
                result = result.info
            self.done[key] = result

    def _take(self, key: tuple[str, str, str | None]) -> object | None:
        result = self.done.get(key)
        if isinstance(result, LimitExceeded):
            raise result
        return result

    def pdf(self, path: Path, password: str | None) -> PdfInfo:
        result = self.done.get(("pdf", str(path), password))
        if isinstance(result, LimitExceeded) and result.what == "memory":
            return inspect_pdf_without_pdfium(path, password, limits=self.limits)
        result = self._take(("pdf", str(path), password))
        if isinstance(result, PdfInfo):
            return result
        if isinstance(result, RuntimeError):
            return PdfInfo(error=str(result))
        return inspect_pdf(path, password, limits=self.limits)

    def image(self, path: Path) -> ImageInfo:
        result = self._take(("image", str(path), None))
        if isinstance(result, ImageInfo):
            return result
        if isinstance(result, RuntimeError):
            return ImageInfo(error=str(result))
        return inspect_image(path, limits=self.limits)


def _check_one(
    loaded: LoadedCase,
    case: Case,
    rec: Record,
    fi: FileInfo,
    key: tuple[str | int, ...],
    case_dir: Path,
    insp: _Inspector,
    max_file_mb: int,
    who: Identity,
    hashes: dict[str, str],
) -> Iterator[Finding]:
    rel = fi.rel
    path, code, msg = _resolve(case_dir, rel)
    if path is None:
        assert code and msg
        yield _f(
            loaded,
            code,
            Severity.ERROR,
            msg,
            key,
            rel,
            "copy the file into the case folder and refer to it by a relative path",
        )
        return
    want_dir = rec.kind is RecordKind.IMAGING_STUDY
    problem = _stat_problem(path, want_dir)
    if problem:
        hint = {
            "file.not-found": "check the spelling and the folder; paths are relative to the case file",
        }.get(problem[0])
        yield _f(loaded, problem[0], Severity.ERROR, problem[1], key, rel, hint)
        return

    if want_dir:
        yield from _check_dicom(loaded, fi, path, key, who)
        return

    size = path.stat().st_size
    fi.size = size
    if size > max_file_mb * 1024 * 1024:
        yield _f(
            loaded,
            "file.too-large",
            Severity.ERROR,
            f"the file is larger than the {max_file_mb} MB limit",
            key,
            rel,
            "split it, or raise the limit with --max-file-mb",
        )
        return
    sniffed: Sniffed = sniff(path)
    fi.kind = sniffed.kind
    if sniffed.kind is FileKind.EMPTY:
        yield _f(
            loaded,
            "file.empty",
            Severity.ERROR,
            "the file is empty (0 bytes)",
            key,
            rel,
            "download or scan it again",
        )
        return
    if sniffed.kind not in RECORD_KINDS:
        what = {
            FileKind.HTML: "a web page (often a portal's error or login page saved by mistake)",
            FileKind.ZIP: "a ZIP archive",
            FileKind.DICOM: "a DICOM image; put DICOM files in an imaging-study record's folder",
        }.get(sniffed.kind, "not a PDF or a JPEG, PNG or TIFF image")
        yield _f(
            loaded,
            "file.wrong-type",
            Severity.ERROR,
            f"the file is {what}",
            key,
            rel,
            "download the record again as PDF, or scan it",
        )
        return
    if not extension_matches(path, sniffed.kind):
        yield _f(
            loaded,
            "file.extension-mismatch",
            Severity.WARNING,
            f"the file's content is {sniffed.kind.value.upper()} but its name says otherwise",
            key,
            rel,
            "rename it; opinionkit goes by the content",
        )
    fi.sha256 = insp.sha256(path)
    first = hashes.get(fi.sha256)
    if first is not None:
        yield _f(
            loaded,
            "file.duplicate",
            Severity.WARNING,
            f"the file is an exact copy of the file of {first}",
            key,
            rel,
            "remove one of the two records",
        )
    else:
        hashes[fi.sha256] = _keystr(key)

    if sniffed.kind is FileKind.PDF:
        yield from _check_pdf(loaded, rec, fi, path, key, sniffed, who, insp)
    else:
        yield from _check_image(loaded, fi, path, key, insp)


def _keystr(key: tuple[str | int, ...]) -> str:
    from opinionkit.yamlsafe import path_str

    return path_str(key[:2])


def _check_pdf(
    loaded: LoadedCase,
    rec: Record,
    fi: FileInfo,
    path: Path,
    key: tuple[str | int, ...],
    sniffed: Sniffed,
    who: Identity,
    insp: _Inspector,
) -> Iterator[Finding]:
    rel = fi.rel
    password: str | None = None
    if rec.password_env:
        password = os.environ.get(rec.password_env)
        if password is None:
            yield _f(
                loaded,
                "pdf.password-unset",
                Severity.ERROR,
                f"the environment variable {rec.password_env} named by password_env is not set",
                key,
                rel,
                f"set it before running: export {rec.password_env}=...",
            )
    try:
        info = insp.pdf(path, password)
    except LimitExceeded as e:
        yield _f(
            loaded,
            "pdf.limit",
            Severity.ERROR,
            f"reading the PDF exceeded the {e.limit} limit",
            key,
            rel,
            "the file may be damaged or hostile; ask the sender for a new copy",
        )
        return
    fi.pdf = info
    fi.password = password
    if info.limit:
        yield _f(
            loaded,
            "pdf.limit",
            Severity.ERROR,
            f"reading the PDF exceeded the {info.limit} limit",
            key,
            rel,
            "the file may be damaged or hostile; ask the sender for a new copy",
        )
        return
    if info.needs_password and not info.password_ok:
        if password is None and not rec.password_env:
            yield _f(
                loaded,
                "pdf.encrypted",
                Severity.ERROR,
                "the PDF is encrypted and needs a password to open",
                key,
                rel,
                "put the password in an environment variable and name it with password_env: "
                "(never write the password in the case file)",
            )
        elif password is not None:
            yield _f(
                loaded,
                "pdf.wrong-password",
                Severity.ERROR,
                f"the password in {rec.password_env} does not open the PDF",
                key,
                rel,
                "check the password with the sender",
            )
        return
    if not info.opened:
        why = (
            "it ends abruptly (an interrupted download or copy)"
            if _truncated(path)
            else "its structure is damaged"
        )
        yield _f(
            loaded,
            "pdf.unreadable",
            Severity.ERROR,
            f"the PDF cannot be opened: {why} ({info.error or 'unknown error'})",
            key,
            rel,
            "download it again or ask the sender for a new copy",
        )
        return
    if not info.pages:
        yield _f(
            loaded,
            "pdf.no-pages",
            Severity.ERROR,
            "the PDF has no pages",
            key,
            rel,
            "download it again or ask the sender for a new copy",
        )
        return
    fi.pages = info.pages
    fi.path = path
    if info.encrypted and not info.needs_password:
        yield _f(
            loaded,
            "pdf.encrypted-open",
            Severity.INFO,
            "the PDF is encrypted but opens without a password; the packet copy will not be",
            key,
            rel,
        )
    if info.repaired:
        yield _f(
            loaded,
            "pdf.repaired",
            Severity.WARNING,
            "the PDF is damaged; it was repaired while reading — check its pages in the packet",
            key,
            rel,
            "if pages look wrong, ask the sender for a new copy",
        )
    if sniffed.leading_junk:
        yield _f(
            loaded,
            "pdf.leading-junk",
            Severity.INFO,
            "the file has bytes before the PDF header (e.g. from a mail gateway); they are ignored",
            key,
            rel,
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
        yield _f(
            loaded,
            "pdf.drops-content",
            Severity.INFO,
            f"the PDF has {', '.join(dropped)}, which the packet does not carry over",
            key,
            rel,
            "send the original file separately if the reviewers need them",
        )
    if info.bad_pages:
        yield _f(
            loaded,
            "pdf.damaged-pages",
            Severity.WARNING,
            f"the content of page(s) {_ranges(info.bad_pages)} cannot be decoded "
            "(damaged, or too large to read safely)",
            key,
            rel,
            "look at those pages in the packet; ask the sender for a new copy if they are blank",
        )
    evidence = insp.evidence.get(("pdf", str(path), password))
    yield from _identity_from_text(loaded, fi, key, who, info, evidence)


def _truncated(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 2048))
        return b"%%EOF" not in fh.read()


def _identity_from_text(
    loaded: LoadedCase,
    fi: FileInfo,
    key: tuple[str | int, ...],
    who: Identity,
    info: PdfInfo,
    evidence: list[TextEvidence] | None = None,
) -> Iterator[Finding]:
    """``evidence``: :func:`record_evidence` of the non-blank pages, when the worker that
    read the file made it (else it is made here)."""
    rel = fi.rel
    if info.text_checked < info.pages:
        why = (
            f"(at most {MAX_TEXT_PAGES} pages are read)"
            if info.text_checked >= MAX_TEXT_PAGES
            else "within the time limit"
        )
        yield _f(
            loaded,
            "identity.partial",
            Severity.WARNING,
            f"only the first {info.text_checked} of {info.pages} pages were read for the "
            f"identity check {why}",
            key,
            rel,
            "look through the remaining pages yourself, or raise --timeout",
        )
    if info.text_pages == 0 and info.text_checked:
        yield _f(
            loaded,
            "identity.not-verifiable",
            Severity.WARNING,
            "the PDF has no text layer (a scan), so whose record it is cannot be verified",
            key,
            rel,
            "look through it and confirm every page belongs to the patient",
        )
        return
    texts = [(n, t) for n, t in enumerate(info.page_texts, start=1) if t.strip()]
    # MRNs printed on pages that name the patient (name or DOB) are the patient's too:
    # a facility's own number that the case file does not list (record_evidence learns
    # them across the record's pages, reading each page once).
    found_any = False
    mismatch_pages: list[int] = []
    kinds: set[str] = set()
    if evidence is None or len(evidence) != len(texts):
        evidence = record_evidence([t for _, t in texts], who)
    for (n, _), ev in zip(texts, evidence, strict=True):
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
        yield _f(
            loaded,
            "identity.mismatch",
            Severity.ERROR,
            f"page(s) {_ranges(mismatch_pages)} show a different {_and(kinds)} "
            "than the patient's: this record may belong to another patient",
            key,
            rel,
            "remove the pages that are not the patient's, or correct the case file",
        )
    elif not found_any:
        yield _f(
            loaded,
            "identity.not-found",
            Severity.WARNING,
            "neither the patient's name, date of birth nor MRN appears in the record's text",
            key,
            rel,
            "confirm the record is the patient's; add the MRN used by its facility under patient.mrns",
        )


def _and(kinds: set[str]) -> str:
    ordered = [k for k in ("patient name", "date of birth", "MRN") if k in kinds]
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " and " + ordered[-1]


def _ranges(pages: list[int]) -> str:
    out: list[str] = []
    start = prev = pages[0]
    for p in [*pages[1:], 0]:
        if p == prev + 1:
            prev = p
            continue
        out.append(str(start) if start == prev else f"{start}–{prev}")
        start = prev = p
    return ", ".join(out)


def _check_image(
    loaded: LoadedCase, fi: FileInfo, path: Path, key: tuple[str | int, ...], insp: _Inspector
) -> Iterator[Finding]:
    rel = fi.rel
    try:
        info = insp.image(path)
    except LimitExceeded as e:
        yield _f(
            loaded,
            "image.limit",
            Severity.ERROR,
            f"reading the image exceeded the {e.limit} limit",
            key,
            rel,
            "scan the page again",
        )
        return
    fi.image = info
    if info.error or info.limit:
        yield _f(
            loaded,
            "image.unreadable",
            Severity.ERROR,
            f"the image cannot be read ({info.limit or info.error})",
            key,
            rel,
            "scan the page again",
        )
        return
    fi.pages = max(1, info.frames)
    fi.path = path
    yield _f(
        loaded,
        "identity.not-verifiable",
        Severity.WARNING,
        "a scanned image has no text, so whose record it is cannot be verified",
        key,
        rel,
        "look at it and confirm it belongs to the patient",
    )


def _check_dicom(
    loaded: LoadedCase, fi: FileInfo, path: Path, key: tuple[str | int, ...], who: Identity
) -> Iterator[Finding]:
    rel = fi.rel
    folder = inspect_dicom_folder(path)
    fi.dicom = folder
    fi.path = path
    if folder.dicom_files == 0:
        yield _f(
            loaded,
            "dicom.empty",
            Severity.ERROR,
            "the imaging folder holds no readable DICOM files",
            key,
            rel,
            "copy the whole study from the CD or download (the folder with the DICOM files)",
        )
        fi.path = None
        return
    if folder.unreadable:
        yield _f(
            loaded,
            "dicom.unreadable",
            Severity.WARNING,
            f"{len(folder.unreadable)} file(s) in the imaging folder are damaged DICOM",
            key,
            rel,
            "copy the study again from the CD or download",
        )
    ev = dicom_evidence(folder, who)
    if ev.verdict == "mismatch":
        yield _f(
            loaded,
            "identity.dicom-mismatch",
            Severity.ERROR,
            "the DICOM headers name a different patient (name, ID or date of birth) than the case: "
            "these images may belong to another patient",
            key,
            rel,
            "check the CD's label; remove the study if it is not the patient's",
        )
    elif ev.verdict in ("none", "weak"):
        yield _f(
            loaded,
            "identity.dicom-unverified",
            Severity.WARNING,
            "the DICOM headers do not identify the patient (anonymised or incomplete)",
            key,
            rel,
            "confirm with radiology that this study is the patient's",
        )

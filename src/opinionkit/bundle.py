"""`bundle`: turn a checked case into the packet folder a reviewing team receives.

Library first: :func:`bundle_case` returns a :class:`BundleResult` and never prints.
What lands in the output folder (file names carry the case id, never the patient's name)::

    <CASE>-packet.pdf              (or <CASE>-packet-vol1.pdf, -vol2.pdf ... with --max-size)
    <CASE>-cover-letter.pdf
    <CASE>-cover-letter.txt
    manifest.json                  what was released: inputs and outputs with SHA-256
    imaging/                       the DICOM studies (with a DICOMDIR when asked for)

The folder is built beside the target and swapped in complete (see
:class:`opinionkit.pdf.AtomicDir`): a failure or Ctrl-C leaves the earlier output as it was.
"""

from __future__ import annotations

import _thread
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from opinionkit import __version__
from opinionkit.check import CaseResult, CheckOptions, check_case
from opinionkit.checks.files import FileInfo, RecordInfo
from opinionkit.errors import (
    ExitCode,
    InputError,
    LimitExceeded,
    OpinionkitError,
    OutputError,
    UsageError,
)
from opinionkit.findings import Finding, Severity
from opinionkit.inspect.filetype import FileKind, file_sha256
from opinionkit.inspect.limits import Limits, run_limited
from opinionkit.models import Case, RecordKind, RecordStatus
from opinionkit.pdf import AtomicDir, Part, StampSpec, assemble, atomic_write
from opinionkit.pdf.assemble import PartError
from opinionkit.pdf.atomic import WriteBehind, fsync_soon
from opinionkit.render import (
    Enclosure,
    FrontMatter,
    FrontMatterInput,
    ImagingStudy,
    render_front_matter,
    render_letter,
    render_letter_text,
)

T = TypeVar("T")
MANIFEST_SCHEMA = "opinionkit.manifest/1"
FRONT_GROUP = "Front matter"
_SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
}


def parse_size(text: str) -> int:
    """``25MB`` -> 25_000_000 (KB/MB/GB are decimal, KiB/MiB/GiB binary)."""
    raw = text.strip().upper().replace(" ", "")
    number = raw.rstrip("KMGIB")
    unit = raw[len(number) :]
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"--max-size: cannot read '{text}' as a size", hint="write it like 25MB or 500KB"
        ) from None
    if unit not in _SIZE_UNITS or value <= 0:
        raise UsageError(
            f"--max-size: cannot read '{text}' as a size", hint="write it like 25MB or 500KB"
        )
    return int(value * _SIZE_UNITS[unit])


@dataclass
class BundleOptions:
    out: Path | None = None
    """Output folder (default: ``<case_id>-packet`` in the current folder)."""
    force: bool = False
    allow_incomplete: bool = False
    templates: Path | None = None
    encrypt: bool = False
    password_env: str = "OPINIONKIT_PASSWORD"
    password_file: Path | None = None
    max_size: int | None = None
    """Split the packet into volumes of at most this many bytes (at record boundaries)."""
    bates_prefix: str | None = None
    bates_start: int = 1
    dicomdir: bool = False
    check: CheckOptions = field(default_factory=CheckOptions)
    template_limits: Limits = field(default_factory=lambda: Limits(seconds=60, memory_mb=2048))
    """Bounds for rendering a user's templates (``--templates``)."""
    environ: dict[str, str] | None = None
    """Where SOURCE_DATE_EPOCH and the password variable are read (default: os.environ)."""


@dataclass
class OutputFile:
    name: str
    sha256: str
    size: int
    pages: int | None = None
    first_page: int | None = None
    last_page: int | None = None


@dataclass
class BundleResult:
    case: CaseResult
    out: Path | None = None
    outputs: list[OutputFile] = field(default_factory=list)
    pages: int = 0
    volumes: int = 0
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things the user should know (content dropped from records, volumes over the limit)."""
    manifest: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- planning


@dataclass
class _Item:
    """One run of pages in the packet: a record's file(s), or a translation."""

    record_index: int
    title: str
    group: str
    kind: RecordKind
    date: date | None
    source_name: str | None
    files: list[FileInfo]
    pages: int
    size: int
    password: str | None = None
    is_translation: bool = False
    volume: int = 1
    first: int = 0  # printed page numbers, filled in once the front matter is laid out
    last: int = 0
    language: str | None = None
    translated: bool = False


def _plan_items(case: Case, infos: list[RecordInfo], case_dir: Path) -> list[_Item]:
    items: list[_Item] = []
    order = sorted(
        (
            i
            for i in infos
            if i.record.status is RecordStatus.RECEIVED
            and i.record.kind is not RecordKind.IMAGING_STUDY
        ),
        key=lambda i: (i.record.kind.order, i.index),
    )
    for info in order:
        rec = info.record
        files = [f for f in info.files if f.usable]
        if not files:
            continue
        password = next((f.password for f in files if f.password), None)
        items.append(
            _Item(
                info.index,
                rec.title,
                rec.kind.heading,
                rec.kind,
                rec.date,
                rec.source,
                files,
                sum(f.pages for f in files),
                sum(f.size for f in files),
                password,
                language=rec.language,
                translated=bool(rec.translation),
            )
        )
        if rec.translation:
            tpath = case_dir / rec.translation
            tinfo = _translation_info(tpath, rec.translation)
            if tinfo is not None:
                items.append(
                    _Item(
                        info.index,
                        f"{rec.title} — English translation",
                        rec.kind.heading,
                        rec.kind,
                        rec.date,
                        rec.source,
                        [tinfo],
                        tinfo.pages,
                        tinfo.size,
                        is_translation=True,
                        language="en",
                    )
                )
    return items


def _translation_info(path: Path, rel: str) -> FileInfo | None:
    """Translations are checked for existence by `check`; here they are opened for pages."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(path)
        pages = len(reader.pages)
    except Exception:
        return None
    data = path.read_bytes()
    return FileInfo(
        rel, path, len(data), hashlib.sha256(data).hexdigest(), FileKind.PDF, pages=pages
    )


def _split_volumes(items: list[_Item], front_size: int, limit: int | None) -> tuple[int, list[str]]:
    """Assign volumes greedily at record boundaries; a translation stays with its record."""
    notes: list[str] = []
    if limit is None:
        return 1, notes
    per_part, per_volume = 2048, 48_000  # page objects, stamps (fonts embedded per volume)
    volume, used = 1, front_size + per_volume
    for n, item in enumerate(items):
        cost = item.size + per_part
        together = item.is_translation and n > 0
        if not together and used + cost > limit and used > per_volume:
            volume, used = volume + 1, per_volume
        item.volume = volume
        used += cost
        if cost > limit:
            notes.append(
                f"record {item.record_index + 1} alone is larger than --max-size; "
                f"volume {volume} exceeds the limit"
            )
    return volume, notes


# --------------------------------------------------------------------------- helpers


def _generated(case: Case, environ: dict[str, str]) -> datetime:
    """The packet's date: SOURCE_DATE_EPOCH, else the case's ``prepared:`` date, else today."""
    epoch = environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise UsageError("SOURCE_DATE_EPOCH is not a number of seconds") from None
    day = case.prepared or date.today()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _pdf_date(moment: datetime) -> str:
    return moment.strftime("D:%Y%m%d%H%M%SZ")


def _password(options: BundleOptions, environ: dict[str, str]) -> str | None:
    if not options.encrypt:
        return None
    if options.password_file is not None:
        try:
            text = options.password_file.read_text(encoding="utf-8").strip("\r\n")
        except OSError as e:
            raise InputError(
                f"{options.password_file}: cannot read the password file ({e.strerror})"
            ) from None
        if not text:
            raise InputError(f"{options.password_file}: the password file is empty")
        return text
    value = environ.get(options.password_env)
    if not value:
        raise UsageError(
            f"--encrypt needs a password: the environment variable {options.password_env} is not set",
            hint="export it, or pass --password-file FILE (never the password itself)",
        )
    return value


def _stamp_left(case: Case) -> str:
    return (
        f"{case.patient.name} · DOB {case.patient.date_of_birth.isoformat()} · Case {case.case_id}"
    )


WRONG_PATIENT = {"identity.mismatch", "identity.dicom-mismatch"}


def _missing_items(result: CaseResult) -> list[str]:
    """Plain-language list of what the case lacks (errors), for an incomplete packet."""
    out: list[str] = []
    for f in result.findings.sorted():
        if f.severity is Severity.ERROR:
            where = f" ({f.path})" if f.path else ""
            left_out = " — left out of this packet" if f.code in WRONG_PATIENT else ""
            out.append(f"{f.message}{where}{left_out}")
    return out


def _withhold_wrong_patient(checked: CaseResult) -> None:
    """A file that may be another patient's never goes into the packet, not even with
    --allow-incomplete: it is marked unusable (and listed in the letter)."""
    for f in checked.findings:
        if f.code not in WRONG_PATIENT or not f.key or f.path is None:
            continue
        m = re.match(r"records\[(\d+)\]", f.key)
        if m is None or int(m.group(1)) >= len(checked.records):
            continue
        for fi in checked.records[int(m.group(1))].files:
            if fi.rel == f.path:
                fi.path = None


# --------------------------------------------------------------------------- imaging


@dataclass
class _ImagingOut:
    record_index: int
    folder: str
    files: list[dict[str, Any]]
    studies: list[ImagingStudy]


def _copy_imaging(
    case: Case,
    infos: list[RecordInfo],
    dest: Path,
    dicomdir: bool,
    notes: list[str],
) -> list[_ImagingOut]:
    """Copy every DICOM study beside the packet under neutral names (no PHI in paths)."""
    out: list[_ImagingOut] = []
    n = 0
    for info in infos:
        rec = info.record
        if rec.kind is not RecordKind.IMAGING_STUDY or rec.status is not RecordStatus.RECEIVED:
            continue
        for fi in info.files:
            if fi.dicom is None or fi.path is None or not fi.dicom.studies:
                continue
            n += 1
            folder = f"imaging/study-{n:02d}"
            target = dest / folder
            target.mkdir(parents=True, exist_ok=True)
            copied: list[dict[str, Any]] = []
            k = 0
            base = fi.path if fi.path.is_dir() else fi.path.parent
            for study in fi.dicom.studies.values():
                for rel in study.files:
                    k += 1
                    src = base / rel if fi.path.is_dir() else fi.path
                    name = f"IM{k:05d}.dcm"
                    shutil.copyfile(src, target / name)
                    os.chmod(target / name, 0o600)
                    copied.append(
                        {
                            "source": f"{fi.rel}/{rel}" if fi.path.is_dir() else fi.rel,
                            "file": f"{folder}/{name}",
                            "sha256": file_sha256(src),
                            "size": src.stat().st_size,
                        }
                    )
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
                for s in fi.dicom.studies.values()
            ]
            out.append(_ImagingOut(info.index, folder, copied, studies))
    if dicomdir and out:
        moved = _write_dicomdir(dest / "imaging", notes)
        if moved is not None:
            for im in out:
                im.folder = "imaging"
                for entry in im.files:
                    new = moved[entry["file"]]
                    entry["file"] = new
                    entry["copy_sha256"] = file_sha256(dest / new)
                for shown in im.studies:
                    shown.location = "imaging/ (open DICOMDIR)"
    return out


def _cleanup_fileset(fs: Any) -> None:
    """pydicom stages instances in a TemporaryDirectory of its own; remove it now rather
    than at garbage collection (no temporary files left behind)."""
    stage = getattr(fs, "_stage", None)
    temp = stage.get("t") if isinstance(stage, dict) else None
    if temp is not None:
        temp.cleanup()


def _write_dicomdir(folder: Path, notes: list[str]) -> dict[str, str] | None:
    """Lay the copied studies out as a DICOM File-set with a DICOMDIR (pydicom FileSet).

    A DICOMDIR record needs a few header elements that some exports leave out (Study ID,
    Series Number, Instance Number...): in the copies only, a missing one is filled with a
    neutral value and a note says so. If the File-set still cannot be written, the plain
    copy stays and a note says why.
    """
    import pydicom
    from pydicom.fileset import FileSet

    defaults = {"StudyID": "1", "SeriesNumber": 1, "InstanceNumber": 1, "StudyTime": "000000"}
    filled: set[str] = set()
    fs = FileSet()
    staging = folder.with_name(folder.name + ".fileset")
    added = []
    try:
        for n, path in enumerate(sorted(folder.rglob("*.dcm")), start=1):
            ds = pydicom.dcmread(path)
            for keyword, value in defaults.items():
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
    base = folder.parent
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


# --------------------------------------------------------------------------- bundle


def bundle_case(path: Path | str, options: BundleOptions | None = None) -> BundleResult:
    """Check one case and, if it may be bundled, write its packet folder.

    Raises :class:`OpinionkitError` subclasses: ``InputError`` for an unreadable case,
    ``BundleRefused`` when the case has errors and ``allow_incomplete`` is off,
    ``OutputExistsError``/``OutputError`` for output problems.
    """
    options = options or BundleOptions()
    environ = dict(os.environ if options.environ is None else options.environ)
    checked = check_case(path, options.check)
    result = BundleResult(checked)
    if checked.unreadable or checked.loaded is None or checked.loaded.case is None:
        raise BundleRefused(checked, "the case file could not be read", ExitCode.INPUT)
    errors = checked.findings.errors
    if errors and not options.allow_incomplete:
        raise BundleRefused(checked, f"the case has {len(errors)} error(s)", ExitCode.FINDINGS)
    case = checked.loaded.case
    password = _password(options, environ)
    moment = _generated(case, environ)
    result.missing = _missing_items(checked) if errors else []
    _withhold_wrong_patient(checked)

    case_dir = checked.path.parent
    out_dir = Path(options.out) if options.out else Path.cwd() / f"{case.case_id}-packet"
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir.parent}: cannot create the folder ({e.strerror})") from None
    excluded: set[int] = set()
    while True:
        # A record that passed check but cannot be merged (pypdf reads pages lazily) is
        # left out and named, and the packet laid out again without it: never silently
        # short of pages.
        try:
            with _watchdog(_build_seconds(checked, options)):
                _build(
                    case, checked, case_dir, out_dir, excluded, options, moment, password, result
                )
            break
        except _RecordFailed as failed:
            key = ("records", failed.record_index, "translation" if failed.translation else "file")
            finding = Finding(
                "pdf.unmergeable",
                Severity.ERROR,
                f"the PDF cannot be merged into the packet: {failed.reason}",
                "download it again or ask the sender for a new copy",
                **checked.loaded.where(key),
            )
            checked.findings.add(finding)
            if not options.allow_incomplete:
                raise BundleRefused(
                    checked, "a record cannot be merged", ExitCode.FINDINGS
                ) from None
            excluded.add(failed.record_index)
            result.missing.append(f"{finding.message} ({_record_label(case, failed.record_index)})")
            result.outputs.clear()
            result.notes.clear()
    result.out = out_dir
    return result


def _render(options: BundleOptions, fn: Callable[..., T], *args: Any) -> T:
    """Run a rendering step; a user's templates run in a fresh, bounded child process
    (a runaway loop or huge output stops at the limit, named in the message)."""
    if options.templates is None:
        return fn(*args)
    try:
        return run_limited(fn, *args, limits=options.template_limits, fresh=True)
    except LimitExceeded as e:
        raise InputError(
            f"templates in {options.templates}: rendering exceeded the {e.limit} {e.what} limit",
            hint="check the templates for runaway loops or huge output "
            "(--template-timeout and --template-memory-mb raise the limits)",
        ) from None
    except RuntimeError as e:
        raise InputError(
            f"templates in {options.templates}: rendering failed ({e})",
            hint="check the templates",
        ) from None


def _build_seconds(checked: CaseResult, options: BundleOptions) -> float:
    """Time allowed to write one packet: the per-file limit for every file, plus one."""
    files = sum(len(info.files) for info in checked.records)
    return options.check.limits.seconds * (files + 1)


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Bound the in-process part of ``bundle`` (the merge runs pure-Python pypdf code).

    On the main thread, a timer interrupts it when ``seconds`` pass; the interruption
    unwinds through :class:`AtomicDir` (nothing is left behind) and becomes a
    :class:`LimitExceeded`. Elsewhere (a library caller's thread) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        _thread.interrupt_main()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if fired.is_set():
            raise LimitExceeded("writing the packet", f"{seconds:g} s") from None
        raise
    finally:
        timer.cancel()
    if fired.is_set():  # fired just as the work finished: absorb the pending interrupt
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(0.05)


def _record_label(case: Case, index: int) -> str:
    rec = case.records[index]
    return rec.file or (rec.files[0] if rec.files else f"records[{index}]")


class _RecordFailed(Exception):
    def __init__(self, record_index: int, translation: bool, reason: str) -> None:
        super().__init__(reason)
        self.record_index = record_index
        self.translation = translation
        self.reason = reason


def _build(
    case: Case,
    checked: CaseResult,
    case_dir: Path,
    out_dir: Path,
    excluded: set[int],
    options: BundleOptions,
    moment: datetime,
    password: str | None,
    result: BundleResult,
) -> None:
    items = [
        it for it in _plan_items(case, checked.records, case_dir) if it.record_index not in excluded
    ]
    # Scanned images become PDF pages once, here, and are reused below.
    image_pdfs: dict[int, bytes] = {}
    for n, item in enumerate(items):
        if any(f.kind in (FileKind.JPEG, FileKind.PNG, FileKind.TIFF) for f in item.files):
            try:
                image_pdfs[n] = _item_pdf(item)
            except InputError as e:
                raise _RecordFailed(item.record_index, item.is_translation, e.message) from None
            item.size = len(image_pdfs[n])
    with AtomicDir(out_dir, force=options.force) as tmp:
        front, volumes = _layout(case, checked, items, options, moment, result, tmp)
        _write_volumes(
            case, items, front, volumes, image_pdfs, options, moment, password, tmp, result
        )
        letter_pdf = render_letter(front.input, options.templates, front.rendered)
        letter_text = _render(
            options, render_letter_text, front.input, options.templates, front.rendered
        )
        _write(tmp, f"{case.case_id}-cover-letter.pdf", letter_pdf, result, encrypt=password)
        _write(tmp, f"{case.case_id}-cover-letter.txt", letter_text.encode("utf-8"), result)
        result.manifest = _manifest(case, checked, items, front, result, moment, options)
        manifest_bytes = (json.dumps(result.manifest, indent=2, ensure_ascii=False) + "\n").encode()
        atomic_write(tmp / "manifest.json", manifest_bytes, force=True, sync=False)


class BundleRefused(OpinionkitError):
    """`bundle` will not build a packet from this case (errors, or unreadable)."""

    def __init__(self, case: CaseResult, why: str, code: ExitCode) -> None:
        super().__init__(
            f"{case.display}: not bundled: {why}",
            hint="run opinionkit check on it and fix the errors, "
            "or pass --allow-incomplete to bundle what is there (the letter lists what is missing)",
        )
        self.case = case
        self.exit_code = code


def _item_pdf(item: _Item) -> bytes:
    paths = [f.path for f in item.files if f.path is not None]
    if all(f.kind is FileKind.PDF for f in item.files) and len(paths) == 1:
        return paths[0].read_bytes()
    # A record of several files (scanned pages): one PDF, images converted, PDFs appended.
    from pypdf import PdfReader, PdfWriter

    from opinionkit.pdf.images import images_to_pdf

    writer = PdfWriter()
    for f in item.files:
        assert f.path is not None
        if f.kind is FileKind.PDF:
            reader = PdfReader(f.path)
            if reader.is_encrypted and f.password:
                reader.decrypt(f.password)
            for page in reader.pages:
                writer.add_page(page)
        else:
            for page in PdfReader(io.BytesIO(images_to_pdf([f.path]))).pages:
                writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


@dataclass
class _Front:
    input: FrontMatterInput
    rendered: FrontMatter
    sections: list[tuple[str, bytes, int]]
    """(title, PDF, pages) per front-matter section."""
    pages: int
    imaging: list[_ImagingOut]


def _layout(
    case: Case,
    checked: CaseResult,
    items: list[_Item],
    options: BundleOptions,
    moment: datetime,
    result: BundleResult,
    tmp: Path,
) -> tuple[_Front, int]:
    # Record pages relative to the first record page (1-based).
    rel = 1
    for item in items:
        item.first, item.last = rel, rel + item.pages - 1
        rel += item.pages
    report_rel = {
        case.records[it.record_index].id: it.first
        for it in items
        if case.records[it.record_index].id and not it.is_translation
    }
    imaging = _copy_imaging(case, checked.records, tmp, options.dicomdir, result.notes)
    front_size = 0
    if options.max_size:
        # The front matter opens volume 1: measure it (as laid out for one volume) first.
        probe = _front_input(case, checked, items, imaging, report_rel, moment, result, 1)
        rendered = _render(options, render_front_matter, probe, options.templates)
        front_size = sum(len(sec.pdf) for sec in rendered.sections)
    volumes, notes = _split_volumes(items, front_size, options.max_size)
    result.notes.extend(notes)
    inp = _front_input(case, checked, items, imaging, report_rel, moment, result, volumes)
    front = _render(options, render_front_matter, inp, options.templates)
    sections = [(sec.title, sec.pdf, sec.pages) for sec in front.sections]
    offset = front.pages
    for item in items:
        item.first += offset
        item.last += offset
    return _Front(inp, front, sections, front.pages, imaging), volumes


def _front_input(
    case: Case,
    checked: CaseResult,
    items: list[_Item],
    imaging: list[_ImagingOut],
    report_rel: dict[str | None, int],
    moment: datetime,
    result: BundleResult,
    volumes: int,
) -> FrontMatterInput:
    enclosures = [
        Enclosure(
            category=it.group,
            title=it.title,
            date=it.date,
            source=it.source_name,
            first_page=it.first,
            last_page=it.last,
            volume=it.volume,
            status="enclosed",
            language=it.language,
            translated=it.translated,
        )
        for it in items
    ]
    order = {kind.heading: kind.order for kind in RecordKind}
    for info in checked.records:
        rec = info.record
        if rec.status is RecordStatus.REQUESTED:
            enclosures.append(
                Enclosure(
                    category=rec.kind.heading,
                    title=rec.title,
                    date=rec.date,
                    source=rec.source,
                    first_page=None,
                    last_page=None,
                    volume=None,
                    status="requested",
                    language=rec.language,
                    translated=bool(rec.translation),
                )
            )
    # requested records take their place in reviewer order (after the enclosed ones of
    # their category); the sort is stable, so enclosed records keep their order
    enclosures.sort(key=lambda e: (order.get(e.category, 99), e.status != "enclosed"))
    studies: list[ImagingStudy] = []
    for im in imaging:
        rec = case.records[im.record_index]
        page = report_rel.get(rec.report) if rec.report else None
        for study in im.studies:
            study.report_page = page
            studies.append(study)
    return FrontMatterInput(
        case=case,
        profile_title=checked.profile.title if checked.profile else "",
        generated=moment.date(),
        enclosures=enclosures,
        imaging=studies,
        missing=result.missing,
        volumes=volumes,
    )


def _write_volumes(
    case: Case,
    items: list[_Item],
    front: _Front,
    volumes: int,
    image_pdfs: dict[int, bytes],
    options: BundleOptions,
    moment: datetime,
    password: str | None,
    tmp: Path,
    result: BundleResult,
) -> None:
    total = front.pages + sum(it.pages for it in items)
    stamp = StampSpec(
        _stamp_left(case), bates_prefix=options.bates_prefix, bates_start=options.bates_start
    )
    printed = 1
    bates = options.bates_start
    for volume in range(1, volumes + 1):
        parts: list[Part] = []
        owners: list[_Item | None] = []
        if volume == 1:
            parts.extend(
                Part(title, FRONT_GROUP, pdf, bookmarks=False) for title, pdf, _ in front.sections
            )
            owners.extend(None for _ in front.sections)
        for n, item in enumerate(items):
            if item.volume != volume:
                continue
            owners.append(item)
            if n in image_pdfs:
                parts.append(Part(item.title, item.group, image_pdfs[n]))
            elif len(item.files) == 1 and (path := item.files[0].path) is not None:
                parts.append(
                    Part(
                        item.title,
                        item.group,
                        path,
                        password=item.password,
                        sha256=item.files[0].sha256,
                    )
                )
            else:
                parts.append(Part(item.title, item.group, _item_pdf(item)))
        name = (
            f"{case.case_id}-packet.pdf"
            if volumes == 1
            else f"{case.case_id}-packet-vol{volume}.pdf"
        )
        title = f"Second-opinion packet — case {case.case_id}"
        if volumes > 1:
            title += f" — volume {volume} of {volumes}"
        metadata = {
            "Title": title,
            "Subject": "Medical records for a second opinion",
            "Creator": f"opinionkit {__version__}",
            "CreationDate": _pdf_date(moment),
            "ModDate": _pdf_date(moment),
        }
        vstamp = StampSpec(stamp.left, bates_prefix=stamp.bates_prefix, bates_start=bates)
        # Written straight into the private temporary folder (AtomicDir swaps it in whole):
        # no second copy of the packet in memory.
        target = tmp / name
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        # Unbuffered (assemble buffers): WriteBehind sends it to disk as it is written.
        with os.fdopen(fd, "wb", buffering=0) as raw, WriteBehind(raw) as fh:
            try:
                assembled = assemble(
                    parts,
                    stamp=vstamp,
                    metadata=metadata,
                    out=fh,  # type: ignore[arg-type]
                    first_page_number=printed,
                    total_pages=total,
                    encrypt_password=password,
                )
            except PartError as e:
                owner = owners[e.index]
                if owner is None:
                    raise
                raise _RecordFailed(owner.record_index, owner.is_translation, e.message) from None
        fsync_soon(target)  # to disk while the next volume, the letter and manifest are made
        for index, what in assembled.dropped:
            result.notes.append(f"{parts[index].title}: {what} not carried into the packet")
        size = assembled.size
        result.outputs.append(
            OutputFile(
                name,
                assembled.sha256,  # hashed as it was written: no second read of the packet
                size,
                assembled.page_count,
                printed,
                printed + assembled.page_count - 1,
            )
        )
        if options.max_size and size > options.max_size:
            result.notes.append(f"{name} is larger than --max-size (a single record is too big)")
        printed += assembled.page_count
        bates += assembled.page_count
    result.pages = total
    result.volumes = volumes


def _write(
    tmp: Path,
    name: str,
    data: bytes,
    result: BundleResult,
    *,
    encrypt: str | None = None,
    pages: int | None = None,
    first: int | None = None,
    last: int | None = None,
) -> None:
    if encrypt is not None and name.endswith(".pdf"):
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        writer.encrypt(encrypt, algorithm="AES-256")
        buf = io.BytesIO()
        writer.write(buf)
        data = buf.getvalue()
    atomic_write(tmp / name, data, force=True, sync=False)  # AtomicDir fsyncs it
    result.outputs.append(
        OutputFile(name, hashlib.sha256(data).hexdigest(), len(data), pages, first, last)
    )


def _manifest(
    case: Case,
    checked: CaseResult,
    items: list[_Item],
    front: _Front,
    result: BundleResult,
    moment: datetime,
    options: BundleOptions,
) -> dict[str, Any]:
    inputs: list[dict[str, Any]] = []
    for item in items:
        for f in item.files:
            inputs.append(
                {
                    "record": item.record_index,
                    "kind": item.kind.value,
                    "translation": item.is_translation,
                    "path": f.rel,
                    "sha256": f.sha256,
                    "size": f.size,
                    "pages": [item.first, item.last],
                    "volume": item.volume,
                }
            )
    front_pages: list[dict[str, Any]] = []
    page = 1
    for title, _pdf, count in front.sections:
        front_pages.append({"section": title, "pages": [page, page + count - 1]})
        page += count
    return {
        "schema": MANIFEST_SCHEMA,
        "tool": {"name": "opinionkit", "version": __version__},
        "case_id": case.case_id,
        "profile": checked.profile.id if checked.profile else None,
        "generated": moment.isoformat().replace("+00:00", "Z"),
        "case_file": {"path": checked.path.name, "sha256": file_sha256(checked.path)},
        "complete": not result.missing,
        "missing": result.missing,
        "encrypted": options.encrypt,
        "pages": result.pages,
        "volumes": result.volumes,
        "front_matter": front_pages,
        "inputs": inputs,
        "imaging": [
            {
                "record": im.record_index,
                "folder": im.folder,
                "files": im.files,
                "dicomdir": options.dicomdir,
            }
            for im in front.imaging
        ],
        "outputs": [o.__dict__ for o in result.outputs],
    }


def bundle_paths(
    paths: list[Path],
    options: BundleOptions,
    on_result: Callable[[Path, BundleResult | None, OpinionkitError | None], None] | None = None,
    *,
    jobs: int = 1,
) -> list[tuple[Path, BundleResult | None, OpinionkitError | None]]:
    """Bundle several cases, ``jobs`` at a time; one failure never stops the others.

    With more than one case, ``options.out`` is a parent folder and each case goes to
    ``<out>/<case_id>-packet``. Results come back in input order; ``on_result`` is called
    as each case finishes.
    """
    from opinionkit.batch import run_cases

    results: list[tuple[Path, BundleResult | None, OpinionkitError | None] | None] = [None] * len(
        paths
    )
    for i, path, res, err in run_cases(bundle_one, paths, (options, len(paths) > 1), jobs):
        results[i] = (path, res, err)
        if on_result:
            on_result(path, res, err)
    return [r for r in results if r is not None]


def bundle_one(path: Path, options: BundleOptions, many: bool = False) -> BundleResult:
    """One case of a batch (``many``: the output goes to ``<out>/<case_id>-packet``)."""
    return bundle_case(path, _per_case_options(options, path) if many else options)


def _per_case_options(options: BundleOptions, path: Path) -> BundleOptions:
    from dataclasses import replace

    from opinionkit.loading import load_case

    loaded = load_case(path)
    case_id = loaded.case.case_id if loaded.case else Path(path).resolve().parent.name
    parent = options.out or Path.cwd()
    return replace(options, out=Path(parent) / f"{case_id}-packet")

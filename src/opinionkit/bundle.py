"""`bundle`: turn a checked case into the packet folder a reviewing team receives.

Library first: :func:`bundle_case` returns a :class:`BundleResult` and never prints.
What lands in the output folder (file names carry the case id, never the patient's name)::

    <CASE>-packet.pdf              (or <CASE>-packet-vol1.pdf, -vol2.pdf ... with --max-size)
    <CASE>-cover-letter.pdf
    <CASE>-cover-letter.txt
    manifest.json                  what was released: inputs and outputs with SHA-256
    imaging/                       the DICOM studies (with a DICOMDIR when asked for)

The job (:class:`BundleJob`) reads, in order: the case is checked (exactly as ``check``
does: what ``check`` withheld stays out, and nothing here judges a file again); its
usable records are planned into the packet's runs of pages; the folder is built beside
the target and swapped in complete (:class:`opinionkit.pdf.AtomicDir`, replacing only
opinionkit's own earlier output, :mod:`opinionkit.output`): imaging copied, front matter
laid out, packet written, letter and manifest written. A failure or Ctrl-C leaves the
earlier output as it was.
"""

from __future__ import annotations

import _thread
import contextlib
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import pikepdf

from opinionkit import __version__
from opinionkit.check import CaseResult, UsableCase, Withheld, check_case
from opinionkit.checks.files import FileInfo, RecordInfo
from opinionkit.errors import (
    ExitCode,
    InputError,
    LimitExceeded,
    OpinionkitError,
    OutputError,
    UsageError,
)
from opinionkit.findings import Severity
from opinionkit.imaging import ImagingCopy, copy_imaging
from opinionkit.inspect.filetype import FileKind, file_sha256
from opinionkit.inspect.limits import run_limited
from opinionkit.models import Case, RecordKind, RecordStatus
from opinionkit.options import BundleOptions, CheckOptions
from opinionkit.output import folder_guard
from opinionkit.pdf import AtomicDir, Part, StampSpec, assemble, atomic_write
from opinionkit.pdf.atomic import WriteBehind, fsync_soon
from opinionkit.render import (
    Enclosure,
    FrontMatter,
    FrontMatterInput,
    render_front_matter,
    render_letter,
    render_letter_text,
)
from opinionkit.render.fonts import case_face

__all__ = [
    "MANIFEST_SCHEMA",
    "BundleJob",
    "BundleOptions",
    "BundleRefused",
    "BundleResult",
    "CheckOptions",
    "OutputFile",
    "bundle_case",
    "bundle_paths",
    "parse_size",
]

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
        value = -1.0
    if unit not in _SIZE_UNITS or value <= 0:
        raise UsageError(
            f"--max-size: cannot read '{text}' as a size", hint="write it like 25MB or 500KB"
        )
    return int(value * _SIZE_UNITS[unit])


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
    """Plain-language problems (the case's errors), listed in the letter; empty when
    the packet is complete."""
    withheld: list[Withheld] = field(default_factory=list)
    """The files ``check`` withheld (another patient's, unreadable, unmergeable ...)."""
    notes: list[str] = field(default_factory=list)
    """Things the user should know (content dropped from records, volumes over the limit)."""
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing and not self.withheld


class BundleRefused(OpinionkitError):
    """`bundle` will not build a packet from this case (errors, or unreadable)."""

    def __init__(self, case: CaseResult, why: str, code: ExitCode, hint: str | None = None) -> None:
        super().__init__(
            f"{case.display}: not bundled: {why}",
            hint=hint
            or "run opinionkit check on it and fix the errors, or pass --allow-incomplete "
            "to bundle what is there (the letter lists what is missing)",
        )
        self.case = case
        self.exit_code = code


# --------------------------------------------------------------------------- planning


@dataclass
class _Item:
    """One run of pages in the packet: a record's usable file(s), or its translation."""

    record_index: int
    title: str
    kind: RecordKind
    date: date | None
    source_name: str | None
    files: list[FileInfo]
    password: str | None = None
    is_translation: bool = False
    language: str | None = None
    translated: bool = False
    """Its translation follows it."""
    pdf: bytes | None = None
    """The record as one PDF, when it is not a single PDF file (scans, several files)."""
    volume: int = 1
    first: int = 0  # printed page numbers, filled in once the front matter is laid out
    last: int = 0

    @property
    def group(self) -> str:
        return self.kind.heading

    @property
    def pages(self) -> int:
        """Pages it brings into the packet (the record's ``withhold:`` pages left out)."""
        return sum(f.pages - len(f.withheld_pages) for f in self.files)

    @property
    def size(self) -> int:
        return len(self.pdf) if self.pdf is not None else sum(f.size for f in self.files)

    def part(self) -> Part:
        if self.pdf is not None:
            return Part(self.title, self.group, self.pdf)
        (only,) = self.files
        assert only.path is not None
        return Part(self.title, self.group, only.path, password=self.password, sha256=only.sha256)


def plan_items(usable: UsableCase) -> list[_Item]:
    """The packet's runs of pages, in reviewer order: each received record's usable
    files, then its usable translation. What ``check`` withheld is not here."""
    items: list[_Item] = []
    order = sorted(
        (
            i
            for i in usable.records
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
        translation = info.translation if info.translation and info.translation.usable else None
        common = {"kind": rec.kind, "date": rec.date, "source_name": rec.source}
        items.append(
            _Item(
                info.index,
                rec.title,
                files=files,
                password=next((f.password for f in files if f.password), None),
                language=rec.language,
                translated=translation is not None,
                **common,  # type: ignore[arg-type]
            )
        )
        if translation is not None:
            items.append(
                _Item(
                    info.index,
                    f"{rec.title} — English translation",
                    files=[translation],
                    password=translation.password,
                    is_translation=True,
                    language="en",
                    **common,  # type: ignore[arg-type]
                )
            )
    return items


def _item_pdf(item: _Item) -> bytes:
    """A record of scanned images or of several files as one PDF (images converted,
    JPEG embedded as is; PDFs appended), without the pages its ``withhold:`` names."""
    from pypdf import PdfReader, PdfWriter

    from opinionkit.pdf.images import images_to_pdf

    if len(item.files) == 1 and item.files[0].kind is FileKind.PDF:
        return _pdf_without_pages(item.files[0])
    writer = PdfWriter()
    for f in item.files:
        assert f.path is not None
        if f.kind is FileKind.PDF:
            reader = PdfReader(f.path)
            if reader.is_encrypted and f.password:
                reader.decrypt(f.password)
            pages = list(reader.pages)
        else:
            pages = list(PdfReader(io.BytesIO(images_to_pdf([f.path]))).pages)
        for n, page in enumerate(pages, start=1):
            if n not in f.withheld_pages:
                writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _pdf_without_pages(f: FileInfo) -> bytes:
    """One PDF without its withheld pages. Its own bookmarks stay: those that pointed at
    a page left out no longer resolve and are dropped where the merge reads them."""
    import pikepdf

    from opinionkit.pdf.assemble import quiet_pikepdf

    assert f.path is not None
    with quiet_pikepdf(), pikepdf.open(f.path, password=f.password or "") as pdf:
        for n in sorted(f.withheld_pages, reverse=True):
            if n <= len(pdf.pages):
                del pdf.pages[n - 1]
        buf = io.BytesIO()
        pdf.save(buf, deterministic_id=True)
        return buf.getvalue()


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


def missing_problems(usable: UsableCase) -> list[str]:
    """The case's errors in plain language, for the letter of an incomplete packet; a
    problem that kept a file out says so."""
    # whole files only: a DICOM folder's foreign files, or withheld pages, say so themselves
    withheld = {(w.key, w.path) for w in usable.withheld() if not w.pages}
    out: list[str] = []
    for f in usable.findings.sorted():
        if f.severity is Severity.ERROR:
            where = f" ({f.path})" if f.path else ""
            left_out = " — left out of this packet" if (f.key, f.path) in withheld else ""
            out.append(f"{f.message}{where}{left_out}")
    return out


def _render(options: BundleOptions, fn: Callable[..., T], *args: Any) -> T:
    """Run a rendering step; a user's templates run in a fresh, bounded child process
    (a runaway loop or huge output stops at the limit, named in the message)."""
    if options.templates is None:
        # the shipped templates: in a fork when that is safe, so that the memory Typst
        # keeps after laying out a long index leaves with it (see opinionkit.typstproc)
        if not options.check.limits.enabled:
            return fn(*args)
        from opinionkit import typstproc

        return typstproc.call(fn, *args)
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


@contextlib.contextmanager
def _watchdog(seconds: float) -> Iterator[None]:
    """Bound the in-process part of ``bundle`` (the merge, and scans made into pages).

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


@dataclass
class _Front:
    input: FrontMatterInput
    rendered: FrontMatter
    volumes: int
    letter_text: str
    """The letter as plain text, rendered with the front matter: a rendering step forks
    a child, cheaper and smaller before the merge than after it."""


# --------------------------------------------------------------------------- the job


@dataclass
class BundleJob:
    """One case's bundle: what it was given, what it decided, and its steps as methods
    (each step reads what the earlier ones left; the check result is never changed)."""

    usable: UsableCase
    options: BundleOptions
    out_dir: Path
    moment: datetime
    """The packet's date (SOURCE_DATE_EPOCH, else the case's ``prepared:``)."""
    password: str | None = field(repr=False)
    result: BundleResult
    items: list[_Item] = field(default_factory=list)
    imaging: list[ImagingCopy] = field(default_factory=list)
    front: _Front | None = None
    trial_written: bool = True
    """Whether the check's trial merge wrote each PDF's pages (``CheckOptions.trial_write``)."""

    @property
    def case(self) -> Case:
        return self.usable.case

    # ---- setting out

    @classmethod
    def start(
        cls, path: Path | str, options: BundleOptions, *, trial_write: bool = True
    ) -> BundleJob:
        """Check the case and decide whether it may be bundled (raises
        :class:`BundleRefused` when not). ``trial_write``: see :func:`bundle_case`."""
        environ = dict(os.environ if options.environ is None else options.environ)
        # OCR's lines for the scans' text layer (the cache holds verdicts, never text)
        checked = check_case(
            path,
            replace(options.check, ocr_lines=options.text_layer, trial_write=trial_write),
        )
        usable = checked.usable()  # raises CaseUnreadable (exit 3)
        errors = usable.findings.errors
        if errors and not options.allow_incomplete:
            raise BundleRefused(checked, f"the case has {len(errors)} error(s)", ExitCode.FINDINGS)
        warnings = usable.findings.warnings
        if options.check.strict and warnings:
            raise BundleRefused(
                checked,
                f"the case has {len(warnings)} warning(s) and --strict is set",
                ExitCode.FINDINGS,
                hint="resolve the warnings (opinionkit check lists them) or drop --strict",
            )
        case = usable.case
        result = BundleResult(checked, missing=missing_problems(usable), withheld=usable.withheld())
        out = Path(options.out) if options.out else Path.cwd() / f"{case.case_id}-packet"
        return cls(
            usable,
            options,
            out,
            _generated(case, environ),
            _password(options, environ),
            result,
            plan_items(usable),
            trial_written=trial_write,
        )

    def output_folder(self) -> AtomicDir:
        """The output folder, built aside and swapped in whole; it replaces only
        opinionkit's own earlier output, never the case's folders or files."""
        try:
            self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(
                f"{self.out_dir.parent}: cannot create the folder ({e.strerror})"
            ) from None
        return AtomicDir(
            self.out_dir,
            force=self.options.force,
            guard=folder_guard(self.usable.inputs()),
            inventory="bundle",
        )

    def watchdog(self) -> contextlib.AbstractContextManager[None]:
        """The in-process work's time bound: the per-file limit for every file, plus one."""
        files = sum(len(info.all_files) for info in self.usable.records)
        return _watchdog(self.options.check.limits.seconds * (files + 1))

    # ---- the steps

    def make_scan_pages(self) -> None:
        """Records of scanned images (or of several files) become one PDF each, here,
        once: their size counts towards the volumes. Scanned pages OCR read get their
        invisible text layer here (:mod:`opinionkit.pdf.textlayer`)."""
        from opinionkit.pdf.textlayer import item_text_layer

        for item in self.items:
            single_pdf = len(item.files) == 1 and item.files[0].kind is FileKind.PDF
            try:
                if not single_pdf or item.files[0].withheld_pages:
                    item.pdf = _item_pdf(item)
                if self.options.text_layer:
                    item.pdf = item_text_layer(item.files, item.pdf, item.password) or item.pdf
            except (InputError, OSError, ValueError, pikepdf.PdfError) as e:
                raise self._merge_failed(item, str(getattr(e, "message", e))) from None

    def copy_imaging(self, tmp: Path) -> None:
        self.imaging = copy_imaging(
            self.usable, tmp, dicomdir=self.options.dicomdir, notes=self.result.notes
        )

    def lay_out_front_matter(self) -> None:
        """Number the records' pages, split volumes, and lay out the front matter (whose
        length depends on the index's page numbers: see :mod:`opinionkit.render`)."""
        rel = 1
        for item in self.items:  # relative to the first record page
            item.first, item.last = rel, rel + item.pages - 1
            rel += item.pages
        front_size = 0
        if self.options.max_size:
            # The front matter opens volume 1: measure it (as laid out for one volume) first.
            probe = _render(
                self.options, render_front_matter, self._front_input(1), self.options.templates
            )
            front_size = sum(len(sec.pdf) for sec in probe.sections)
        volumes, notes = _split_volumes(self.items, front_size, self.options.max_size)
        self.result.notes.extend(notes)
        inp = self._front_input(volumes)
        rendered = _render(self.options, render_front_matter, inp, self.options.templates)
        for item in self.items:
            item.first += rendered.pages
            item.last += rendered.pages
        letter_text = _render(
            self.options, render_letter_text, inp, self.options.templates, rendered
        )
        self.front = _Front(inp, rendered, volumes, letter_text)

    def write_packet(self, tmp: Path) -> None:
        """Merge, stamp and write each volume straight into the temporary folder."""
        assert self.front is not None
        front = self.front.rendered
        total = front.pages + sum(it.pages for it in self.items)
        printed, bates = 1, self.options.bates_start
        volumes = self.front.volumes
        for volume in range(1, volumes + 1):
            owners = [it for it in self.items if it.volume == volume]
            parts = [it.part() for it in owners]
            if volume == 1:
                parts = [
                    *(Part(s.title, FRONT_GROUP, s.pdf, bookmarks=False) for s in front.sections),
                    *parts,
                ]
            name = (
                f"{self.case.case_id}-packet.pdf"
                if volumes == 1
                else f"{self.case.case_id}-packet-vol{volume}.pdf"
            )
            stamp = StampSpec(
                _stamp_left(self.case),
                bates_prefix=self.options.bates_prefix,
                bates_start=bates,
                face=case_face(self.case),  # the CJK face of Han-only names
            )
            target = tmp / name
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            # Unbuffered (assemble buffers): WriteBehind sends it to disk as it is written.
            with os.fdopen(fd, "wb", buffering=0) as raw, WriteBehind(raw) as fh:
                try:
                    assembled = assemble(
                        parts,
                        stamp=stamp,
                        metadata=self._metadata(volume, volumes),
                        out=fh,  # type: ignore[arg-type]
                        first_page_number=printed,
                        total_pages=total,
                        encrypt_password=self.password,
                    )
                except InputError as e:  # what check's trial merge did not meet
                    if not self.trial_written:
                        raise _MergeUntried from None
                    raise self._merge_failed(None, e.message) from None
            fsync_soon(target)  # to disk while the next volume, the letter and manifest are made
            for index, what in assembled.dropped:
                self.result.notes.append(
                    f"{parts[index].title}: {what} not carried into the packet"
                )
            self.result.outputs.append(
                OutputFile(
                    name,
                    assembled.sha256,  # hashed as it was written: no second read
                    assembled.size,
                    assembled.page_count,
                    printed,
                    printed + assembled.page_count - 1,
                )
            )
            if self.options.max_size and assembled.size > self.options.max_size:
                self.result.notes.append(
                    f"{name} is larger than --max-size (a single record is too big)"
                )
            printed += assembled.page_count
            bates += assembled.page_count
        self.result.pages = total
        self.result.volumes = volumes

    def write_letter(self, tmp: Path) -> None:
        assert self.front is not None
        inp, rendered = self.front.input, self.front.rendered
        templates = self.options.templates
        letter_pdf = render_letter(inp, templates, rendered)
        letter_text = self.front.letter_text
        if self.password is not None:
            letter_pdf = _encrypted(letter_pdf, self.password)
        self._write(tmp, f"{self.case.case_id}-cover-letter.pdf", letter_pdf)
        self._write(tmp, f"{self.case.case_id}-cover-letter.txt", letter_text.encode("utf-8"))

    def write_manifest(self, tmp: Path) -> None:
        self.result.manifest = self._manifest()
        data = (json.dumps(self.result.manifest, indent=2, ensure_ascii=False) + "\n").encode()
        atomic_write(tmp / "manifest.json", data, force=True, sync=False)  # AtomicDir fsyncs it

    def finish(self) -> BundleResult:
        self.result.out = self.out_dir
        return self.result

    # ---- what the steps share

    def _merge_failed(self, item: _Item | None, reason: str) -> BundleRefused:
        what = f"record {item.record_index + 1}" if item is not None else "a record"
        return BundleRefused(
            self.result.case,
            f"{what} could not be merged into the packet ({reason})",
            ExitCode.FINDINGS,
            hint="run opinionkit check again (the file may have changed since); "
            "ask the sender for a new copy of the file it names",
        )

    def _metadata(self, volume: int, volumes: int) -> dict[str, str]:
        title = f"Second-opinion packet — case {self.case.case_id}"
        if volumes > 1:
            title += f" — volume {volume} of {volumes}"
        return {
            "Title": title,
            "Subject": "Medical records for a second opinion",
            "Creator": f"opinionkit {__version__}",
            "CreationDate": _pdf_date(self.moment),
            "ModDate": _pdf_date(self.moment),
        }

    def _front_input(self, volumes: int) -> FrontMatterInput:
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
                withheld_pages=sum(len(f.withheld_pages) for f in it.files),
            )
            for it in self.items
        ]
        planned = {it.record_index for it in self.items}
        for info in self.usable.records:
            rec = info.record
            if rec.kind is RecordKind.IMAGING_STUDY or info.index in planned:
                continue
            status = "requested" if rec.status is RecordStatus.REQUESTED else "withheld"
            enclosures.append(
                Enclosure(
                    category=rec.kind.heading,
                    title=rec.title,
                    date=rec.date,
                    source=rec.source,
                    first_page=None,
                    last_page=None,
                    volume=None,
                    status=status,
                    language=rec.language,
                    translated=False,
                )
            )
        # records not enclosed take their place in reviewer order (after the enclosed
        # ones of their category); the sort is stable, so enclosed records keep their order
        order = {kind.heading: kind.order for kind in RecordKind}
        enclosures.sort(key=lambda e: (order.get(e.category, 99), e.status != "enclosed"))
        report_first = {
            self.case.records[it.record_index].id: it.first
            for it in self.items
            if self.case.records[it.record_index].id and not it.is_translation
        }
        studies = []
        for im in self.imaging:
            report = self.case.records[im.record_index].report
            for study in im.studies:
                study.report_page = report_first.get(report) if report else None
                studies.append(study)
        return FrontMatterInput(
            case=self.case,
            profile_title=self.usable.profile.title,
            generated=self.moment.date(),
            enclosures=enclosures,
            imaging=studies,
            missing=self.result.missing,
            volumes=volumes,
        )

    def _write(self, tmp: Path, name: str, data: bytes) -> None:
        atomic_write(tmp / name, data, force=True, sync=False)  # AtomicDir fsyncs it
        self.result.outputs.append(OutputFile(name, hashlib.sha256(data).hexdigest(), len(data)))

    def _manifest(self) -> dict[str, Any]:
        assert self.front is not None
        records = {info.index: info for info in self.usable.records}
        inputs = [
            {
                "record": item.record_index,
                "kind": item.kind.value,
                "translation": item.is_translation,
                "path": f.rel,
                "sha256": f.sha256,
                "size": f.size,
                "pages": [item.first, item.last],
                "volume": item.volume,
                "identity": _input_identity(records[item.record_index], f),
            }
            for item in self.items
            for f in item.files
        ]
        front_pages: list[dict[str, Any]] = []
        page = 1
        for sec in self.front.rendered.sections:
            front_pages.append({"section": sec.title, "pages": [page, page + sec.pages - 1]})
            page += sec.pages
        result = self.result
        return {
            "schema": MANIFEST_SCHEMA,
            "tool": {"name": "opinionkit", "version": __version__},
            "case_id": self.case.case_id,
            "profile": self.usable.profile.id,
            "generated": self.moment.isoformat().replace("+00:00", "Z"),
            "case_file": {"path": self.usable.path.name, "sha256": file_sha256(self.usable.path)},
            "complete": result.complete,
            "missing": result.missing,
            "withheld": [withheld_to_dict(w) for w in result.withheld],
            "identity": [
                {"record": info.index, **info.identity()}
                for info in self.usable.records
                if info.record.status is RecordStatus.RECEIVED
            ],
            "encrypted": self.options.encrypt,
            "pages": result.pages,
            "volumes": result.volumes,
            "front_matter": front_pages,
            "inputs": inputs,
            "imaging": [
                {
                    "record": im.record_index,
                    "folder": im.folder,
                    "files": im.files,
                    "dicomdir": self.options.dicomdir,
                    "identity": records[im.record_index].identity(),
                }
                for im in self.imaging
            ],
            "outputs": [o.__dict__ for o in result.outputs],
        }


def _input_identity(info: RecordInfo, f: FileInfo) -> dict[str, Any]:
    """One enclosed file's identity, as the manifest shows it: its status and evidence,
    who confirmed it, and the pages of it the record's ``withhold:`` left out (and why)."""
    out: dict[str, Any] = {"status": f.identity, "evidence": list(f.evidence)}
    rec = info.record
    if rec.identity_confirmed:
        out["confirmed_by"] = rec.identity_confirmed
    if f.withheld_pages:
        out["withheld_pages"] = sorted(f.withheld_pages)
        out["withheld_reason"] = rec.withhold.reason if rec.withhold else None
    return out


def withheld_to_dict(w: Withheld) -> dict[str, Any]:
    """A withheld file as the manifest and the JSON reports show it."""
    out: dict[str, Any] = {
        "record": w.record,
        "path": w.path,
        "key": w.key,
        "translation": w.translation,
        "code": w.code,
    }
    if w.pages:
        out["pages"] = list(w.pages)
    if w.reason is not None:
        out["reason"] = w.reason
    return out


def _stamp_left(case: Case) -> str:
    return (
        f"{case.patient.name} · DOB {case.patient.date_of_birth.isoformat()} · Case {case.case_id}"
    )


def _encrypted(pdf: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(password, algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- entry points


def bundle_case(path: Path | str, options: BundleOptions | None = None) -> BundleResult:
    """Check one case and, if it may be bundled, write its packet folder.

    Raises :class:`OpinionkitError` subclasses: :class:`~opinionkit.check.CaseUnreadable`
    (exit 3) when the case file cannot be read; :class:`BundleRefused` (exit 1) when the
    case has errors and ``allow_incomplete`` is off, or warnings under ``check.strict``;
    ``OutputError`` (exit 4) for output problems, including an output folder it may not
    replace.
    """
    options = options or BundleOptions()
    try:
        return _bundle(path, options, trial_write=False)
    except _MergeUntried:
        # The check's trial merge opened every PDF and read its page tree, but (the
        # packet's merge reading every stream straight after) wrote nothing: the merge
        # met what only a written trial finds. Again, judged the way check judges it, so
        # the file is reported (pdf.unmergeable) and withheld, and nothing was written.
        return _bundle(path, options, trial_write=True)


class _MergeUntried(Exception):
    """The packet's merge failed on a PDF whose trial merge had not written its pages."""


def _bundle(path: Path | str, options: BundleOptions, *, trial_write: bool) -> BundleResult:
    job = BundleJob.start(path, options, trial_write=trial_write)
    with job.watchdog(), job.output_folder() as tmp:
        job.make_scan_pages()
        job.copy_imaging(tmp)
        job.lay_out_front_matter()
        job.write_packet(tmp)
        job.write_letter(tmp)
        job.write_manifest(tmp)
    return job.finish()


def bundle_paths(
    paths: list[Path],
    options: BundleOptions,
    on_result: Callable[[int, Path, BundleResult | None, OpinionkitError | None], None]
    | None = None,
    *,
    jobs: int | None = None,
) -> list[tuple[Path, BundleResult | None, OpinionkitError | None]]:
    """Bundle several cases, ``jobs`` processes at a time (default: one per CPU,
    :func:`opinionkit.batch.run_cases`); one failure never stops the others.

    With more than one case, ``options.out`` is a parent folder and each case goes to
    ``<out>/<case_id>-packet``. Results come back in input order; ``on_result(index,
    path, result, error)`` is called as each case finishes.
    """
    from opinionkit.batch import run_cases

    results: list[tuple[Path, BundleResult | None, OpinionkitError | None] | None] = [None] * len(
        paths
    )
    for i, path, res, err in run_cases(bundle_one, paths, (options, len(paths) > 1), jobs):
        results[i] = (path, res, err)
        if on_result:
            on_result(i, path, res, err)
    return [r for r in results if r is not None]


def bundle_one(path: Path, options: BundleOptions, many: bool = False) -> BundleResult:
    """One case of a batch (``many``: the output goes to ``<out>/<case_id>-packet``)."""
    return bundle_case(path, _per_case_options(options, path) if many else options)


def _per_case_options(options: BundleOptions, path: Path) -> BundleOptions:
    from opinionkit.loading import load_case

    loaded = load_case(path)
    case_id = loaded.case.case_id if loaded.case else Path(path).resolve().parent.name
    parent = options.out or Path.cwd()
    return replace(options, out=Path(parent) / f"{case_id}-packet")

"""The `opinionkit` command: parse arguments, call one library function, report, exit.

Nothing imports this module. Every command runs inside :func:`_command`, the one place
that turns what can go wrong into a message and a documented exit code, never a
traceback: an :class:`OpinionkitError` (its own code), an output that cannot be written
(a full disk, a closed or broken standard output: 4), Ctrl-C (130), anything else (a bug:
70; set OPINIONKIT_DEBUG=1 to see the traceback). The report is written inside it too.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

# pydantic looks for plugins in every installed package's metadata the first time it
# builds a model (~0.05-0.15 s of every run); the command uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer
from rich.console import Console
from rich.text import Text

from opinionkit import __version__
from opinionkit.errors import ExitCode, OpinionkitError, OutputError, UsageError
from opinionkit.options import (
    DEFAULT_PASSWORD_ENV,
    BundleOptions,
    CheckOptions,
    CompareOptions,
    ExportOptions,
    Limits,
    RequestOptions,
    StatusOptions,
    template_limits,
)

app = typer.Typer(
    name="opinionkit",
    help="Check and assemble the records packet for a cancer second opinion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])

_CHECK = CheckOptions()
_TEMPLATES = template_limits()
_OUTPUT_ERRNOS = {errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EBADF, errno.EIO, errno.EFBIG}
"""An ``OSError`` with one of these, met while writing the report, is an output failure."""


# --------------------------------------------------------------------------- the edge


def _stdout() -> Console:
    """The report's console; a closed standard output is an output error (exit 4)."""
    if sys.stdout is None:
        raise OutputError("standard output is closed: nowhere to write the report")
    console = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    # Measured once: Rich otherwise asks the terminal and the environment for the size at
    # every line it prints (~0.01 s of a check's report).
    width, height = console.size
    console.size = (width + console.legacy_windows, height)
    return console


def _stderr() -> Console | None:
    return Console(file=sys.stderr, highlight=False) if sys.stderr is not None else None


def _say_error(message: str, hint: str | None = None) -> None:
    err = _stderr()
    if err is None:
        return
    try:
        err.print(Text("opinionkit: ", style="bold red") + Text(message))
        if hint:
            err.print(Text(f"  → {hint}", style="green"))
    except (OSError, ValueError):  # stderr is gone too: the exit code says it
        pass


def _exit_code(run: Callable[[], int | None]) -> int:
    """Run one command; map whatever ends it to its exit code (the one error mapping)."""
    try:
        return int(run() or 0)
    except typer.Exit as e:  # Typer's own way out (e.g. --help): its code
        return int(e.exit_code)
    except OpinionkitError as e:
        _say_error(e.message, e.hint)
        return int(e.exit_code)
    except KeyboardInterrupt:
        _say_error("interrupted; nothing partial was left behind")
        return int(ExitCode.INTERRUPTED)
    except OSError as e:
        if e.errno not in _OUTPUT_ERRNOS:
            return _internal(e)
        _say_error(f"the output could not be written ({e.strerror or type(e).__name__})")
        return int(ExitCode.OUTPUT)
    except Exception as e:
        return _internal(e)


def _internal(e: BaseException) -> int:
    if os.environ.get("OPINIONKIT_DEBUG"):
        raise e
    _say_error(
        f"internal error ({type(e).__name__}); this is a bug in opinionkit",
        "please report it with the command you ran (set OPINIONKIT_DEBUG=1 for details; "
        "the details may contain file content, so check before sharing)",
    )
    return int(ExitCode.INTERNAL)


def _command(fn: F) -> F:
    """Register ``fn`` as a command that runs inside :func:`_exit_code`; ``fn`` returns
    its exit code (or None for 0)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        code = _exit_code(lambda: fn(*args, **kwargs))
        _flush()
        raise typer.Exit(code)

    app.command()(run)
    return fn


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


# --------------------------------------------------------------------------- shared options


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


class OcrMode(str, Enum):
    auto = "auto"
    on = "on"
    off = "off"


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        "-p",
        help="Profile name (see `opinionkit profiles`) or profile file; "
        "overrides the case file's profile:.",
    ),
]
TodayOpt = Annotated[
    str | None,
    typer.Option(
        "--today",
        help="Judge dates against this day (YYYY-MM-DD) instead of today.",
        metavar="DATE",
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=1, help="Seconds allowed to read one record file.")
]
MemoryOpt = Annotated[
    int, typer.Option("--memory-mb", min=128, help="Memory allowed to read one record file (MB).")
]
MaxFileOpt = Annotated[
    int, typer.Option("--max-file-mb", min=1, help="Largest record file accepted (MB).")
]
OcrOpt = Annotated[
    OcrMode,
    typer.Option(
        "--ocr",
        envvar="OPINIONKIT_OCR",
        help="Read scanned pages with OCR: auto (when opinionkit[ocr] is installed), "
        "on (exit 2 without it), off.",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit code 1).")]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        max=64,
        help="Processes working at once: cases side by side, or one case's files "
        "(default: one per CPU; 1 works on one thing at a time).",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="text for people, json or jsonl for scripts."),
]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force", help="Replace opinionkit's own earlier output there (never anything else)."
    ),
]
CaseArg = Annotated[Path, typer.Argument(help="The case file.")]
TemplatesOpt = Annotated[
    Path | None,
    typer.Option(
        "--templates",
        help="Folder of templates overriding or extending the shipped ones.",
        metavar="DIR",
    ),
]


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError("--today takes a date written as YYYY-MM-DD") from None


def _check_options(
    profile: str | None,
    today: str | None,
    timeout: float = _CHECK.limits.seconds,
    memory_mb: int = _CHECK.limits.memory_mb,
    max_file_mb: int = _CHECK.max_file_mb,
    strict: bool = False,
    ocr: OcrMode = OcrMode.auto,
) -> CheckOptions:
    return CheckOptions(
        profile=profile,
        today=_day(today),
        limits=Limits(seconds=timeout, memory_mb=memory_mb),
        max_file_mb=max_file_mb,
        strict=strict,
        ocr=ocr.value,
    )


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A Rich progress bar on stderr at a terminal; nothing in scripts."""
    err = _stderr()
    if not enabled or total < 2 or err is None or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("cases", total=total)
        yield lambda: bar.advance(task)


def _version(value: bool) -> None:
    if value:
        print(f"opinionkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Check and assemble the records packet for a cancer second opinion."""


# --------------------------------------------------------------------------- commands


@_command
def check(
    cases: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files to check (default: ./case.yaml).", show_default=False),
    ] = None,
    profile: ProfileOpt = None,
    output_format: FormatOpt = OutputFormat.text,
    strict: StrictOpt = False,
    today: TodayOpt = None,
    timeout: TimeoutOpt = _CHECK.limits.seconds,
    memory_mb: MemoryOpt = _CHECK.limits.memory_mb,
    max_file_mb: MaxFileOpt = _CHECK.max_file_mb,
    ocr: OcrOpt = OcrMode.auto,
    jobs: JobsOpt = None,
) -> int:
    """Report what is missing or wrong in one or more case files."""
    from opinionkit.check import check_paths
    from opinionkit.report import CHECK_REPORTERS

    options = _check_options(profile, today, timeout, memory_mb, max_file_mb, strict, ocr)
    reporter = CHECK_REPORTERS[output_format.value](_stdout(), strict)
    paths = cases or [Path("case.yaml")]
    with _progress(len(paths), output_format is OutputFormat.text) as tick:

        def done(index: int, case: Any) -> None:
            tick()
            reporter.case(index, case)

        result = check_paths(paths, options, jobs=jobs, on_result=done)
    reporter.end(result)
    return int(result.exit_code(strict))


@_command
def profiles() -> None:
    """List the shipped profiles and what each requires."""
    from rich.table import Table  # only this command prints a table

    from opinionkit.profiles import load_profile, shipped

    console = _stdout()
    for name in shipped():
        prof = load_profile(name)
        table = Table(title=f"{prof.id} — {prof.title}", title_justify="left", show_lines=False)
        table.add_column("requirement")
        table.add_column("level")
        table.add_column("check", style="dim")
        for req in prof.requirements:
            table.add_row(req.label, req.level, req.check)
        console.print(table)
        console.print()


@_command
def bundle(
    cases: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files to bundle (default: ./case.yaml).", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default: ./<case_id>-packet). With several cases: the "
            "folder that receives one <case_id>-packet folder per case.",
        ),
    ] = None,
    force: ForceOpt = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Bundle a case that has errors; the cover letter lists what is missing.",
        ),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse a case that has warnings too (exit code 1).")
    ] = False,
    profile: ProfileOpt = None,
    templates: TemplatesOpt = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt",
            help="Encrypt the PDFs with AES-256. The password comes from --password-env "
            "or --password-file, never from the command line.",
        ),
    ] = False,
    password_env: Annotated[
        str,
        typer.Option(
            "--password-env", help="Environment variable holding the password.", metavar="NAME"
        ),
    ] = DEFAULT_PASSWORD_ENV,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file", help="File whose first line is the password.", metavar="FILE"
        ),
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            help="Split the packet into volumes of at most this size, e.g. 25MB.",
            metavar="SIZE",
        ),
    ] = None,
    bates: Annotated[
        str | None,
        typer.Option(
            "--bates", help="Print a Bates number with this prefix on every page.", metavar="PREFIX"
        ),
    ] = None,
    bates_start: Annotated[
        int, typer.Option("--bates-start", min=0, help="First Bates number.")
    ] = 1,
    dicomdir: Annotated[
        bool,
        typer.Option(
            "--dicomdir", help="Write the imaging folder as a DICOM File-set with a DICOMDIR."
        ),
    ] = False,
    output_format: FormatOpt = OutputFormat.text,
    today: TodayOpt = None,
    timeout: TimeoutOpt = _CHECK.limits.seconds,
    memory_mb: MemoryOpt = _CHECK.limits.memory_mb,
    max_file_mb: MaxFileOpt = _CHECK.max_file_mb,
    template_timeout: Annotated[
        float,
        typer.Option("--template-timeout", min=1, help="Seconds allowed to render --templates."),
    ] = _TEMPLATES.seconds,
    template_memory_mb: Annotated[
        int,
        typer.Option(
            "--template-memory-mb", min=256, help="Memory allowed to render --templates (MB)."
        ),
    ] = _TEMPLATES.memory_mb,
    ocr: OcrOpt = OcrMode.auto,
    text_layer: Annotated[
        bool,
        typer.Option(
            "--text-layer/--no-text-layer",
            help="Give scanned pages an invisible, searchable text layer from OCR.",
        ),
    ] = True,
    jobs: JobsOpt = None,
) -> int:
    """Check each case, then write its packet PDF, cover letter, manifest and imaging."""
    from opinionkit.bundle import bundle_paths, parse_size
    from opinionkit.report import BUNDLE_REPORTERS

    if password_file is not None and not encrypt:
        raise UsageError("--password-file is only used with --encrypt")
    options = BundleOptions(
        out=out,
        force=force,
        allow_incomplete=allow_incomplete,
        templates=templates,
        encrypt=encrypt,
        password_env=password_env,
        password_file=password_file,
        max_size=parse_size(max_size) if max_size else None,
        bates_prefix=bates,
        bates_start=bates_start,
        dicomdir=dicomdir,
        text_layer=text_layer,
        check=_check_options(profile, today, timeout, memory_mb, max_file_mb, strict, ocr),
        template_limits=Limits(seconds=template_timeout, memory_mb=template_memory_mb),
    )
    err = _stderr() or _stdout()
    reporter = BUNDLE_REPORTERS[output_format.value](_stdout(), err)
    paths = cases or [Path("case.yaml")]
    with _progress(len(paths), output_format is OutputFormat.text) as tick:

        def done(index: int, path: Path, res: Any, error: OpinionkitError | None) -> None:
            tick()
            reporter.case(index, path, res, error)

        outcomes = bundle_paths(paths, options, done, jobs=jobs)
    reporter.end(outcomes)
    return max((int(e.exit_code) if e else 0 for _, _, e in outcomes), default=0)


@_command
def init(
    folder: Annotated[
        Path, typer.Argument(help="Folder for the new case (created if needed).")
    ] = Path("."),
    profile: ProfileOpt = None,
    case_id: Annotated[
        str | None,
        typer.Option("--case-id", help="Short id for file names (never the patient's name)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The patient's legal name.")] = None,
    date_of_birth: Annotated[
        str | None, typer.Option("--dob", help="Date of birth, YYYY-MM-DD.", metavar="DATE")
    ] = None,
    sender: Annotated[
        str | None,
        typer.Option(
            "--sender", help="Who signs the letters: patient, guardian, referring-doctor."
        ),
    ] = None,
    interactive: Annotated[
        bool | None,
        typer.Option("--ask/--no-ask", help="Ask for missing answers (default: at a terminal)."),
    ] = None,
) -> None:
    """Start a case folder: a commented case.yaml, record folders and the schema."""
    from opinionkit.profiles import shipped
    from opinionkit.scaffold import InitAnswers, init_case

    ask = sys.stdin is not None and sys.stdin.isatty() if interactive is None else interactive
    if ask:
        profile = profile or typer.prompt(
            f"Profile ({', '.join(shipped())})", default="adult-general"
        )
        case_id = case_id or typer.prompt("Case id (for file names, e.g. DOE-001)")
        name = name or typer.prompt("Patient's legal name")
        date_of_birth = date_of_birth or typer.prompt("Date of birth (YYYY-MM-DD)")
        default_sender = "guardian" if profile == "paediatric" else "patient"
        sender = sender or typer.prompt(
            "Who signs the letters (patient, guardian, referring-doctor)", default=default_sender
        )
    profile = profile or "adult-general"
    answers = InitAnswers(
        profile=profile,
        case_id=case_id or "CASE-001",
        name=name or "TODO",
        date_of_birth=date_of_birth or "TODO",
        sender_role=sender or ("guardian" if profile == "paediatric" else "patient"),
    )
    if answers.sender_role not in ("patient", "guardian", "referring-doctor"):
        raise UsageError("--sender is one of patient, guardian, referring-doctor")
    result = init_case(folder, answers)
    console = _stdout()
    console.print(Text("✓ ", style="bold green") + Text(f"new case in {result.folder}"))
    for p in result.created:
        console.print(Text(f"    {p}"))
    console.print(
        Text(
            f"  next: fill in {folder / 'case.yaml'} (its comments show every section), put "
            f"the records in {folder / 'records'}, then run "
        )
        + Text(f"opinionkit check {folder / 'case.yaml'}", style="bold")
    )


@_command
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the case file (for editors and other tools)."""
    import json

    from opinionkit.output import check_output_file
    from opinionkit.pdf.atomic import atomic_write
    from opinionkit.report import write_line
    from opinionkit.schema import case_schema

    text = json.dumps(case_schema(), indent=2)
    if out is None:
        write_line(_stdout(), text)
        return
    check_output_file(out, force=True, inputs=())
    atomic_write(out, (text + "\n").encode(), force=True, mode=0o644)


@_command
def request(
    case: CaseArg = Path("case.yaml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default ./<case_id>-requests)."),
    ] = None,
    force: ForceOpt = False,
    profile: ProfileOpt = None,
    today: TodayOpt = None,
    output_format: FormatOpt = OutputFormat.text,
) -> None:
    """Write records-request letters and release authorisations for what is missing."""
    from opinionkit.report import REQUEST_REPORTERS
    from opinionkit.requests import request_case

    options = RequestOptions(out=out, force=force, check=_check_options(profile, today))
    result = request_case(case, options)
    REQUEST_REPORTERS[output_format.value](_stdout()).report(result)


@_command
def compare(
    case: CaseArg = Path("case.yaml"),
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output folder (default: <case_id>-after-opinion beside the case file).",
        ),
    ] = None,
    force: ForceOpt = False,
    templates: TemplatesOpt = None,
    profile: ProfileOpt = None,
    today: TodayOpt = None,
    output_format: FormatOpt = OutputFormat.text,
) -> None:
    """Put the treating plan and each opinion received side by side; write the questions
    for both doctors and the letter to the treating oncologist."""
    from opinionkit.compare import compare_case
    from opinionkit.report import COMPARE_REPORTERS

    options = CompareOptions(
        out=out,
        force=force,
        templates=templates,
        when=_day(today),
        check=_check_options(profile, today),
    )
    result = compare_case(case, options)
    COMPARE_REPORTERS[output_format.value](_stdout()).report(result)


class StatusFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


@_command
def status(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Case files, or folders searched for case.yaml files (default: .).",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        StatusFormat,
        typer.Option("--format", "-f", help="text (a table) for people; json, jsonl or csv."),
    ] = StatusFormat.text,
    show_names: Annotated[
        bool, typer.Option("--show-names", help="Add the patients' names (default: case ids).")
    ] = False,
    profile: ProfileOpt = None,
    today: TodayOpt = None,
) -> None:
    """Where each case stands, most urgent first (reads case files only)."""
    from opinionkit.report import STATUS_REPORTERS
    from opinionkit.status import status_paths

    options = StatusOptions(today=_day(today), show_names=show_names, profile=profile)
    report = status_paths(paths or [Path(".")], options)
    STATUS_REPORTERS[output_format.value](_stdout()).report(report)


@_command
def export(
    case: CaseArg = Path("case.yaml"),
    fhir: Annotated[
        bool, typer.Option("--fhir", help="A FHIR R4 collection Bundle shaped after mCODE.")
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest", help="This case's bundle manifest.json: adds packet page ranges."
        ),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Export a case that has errors (withheld records and TODO values never go out).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Export the case for other systems (FHIR R4)."""
    import json

    from opinionkit.fhir import export_case
    from opinionkit.report import write_line

    if not fhir:
        raise UsageError("say which export: --fhir")
    options = ExportOptions(
        allow_incomplete=allow_incomplete, manifest=manifest, out=out, force=force
    )
    doc = export_case(case, options)
    if out is None:
        write_line(_stdout(), json.dumps(doc, indent=2, ensure_ascii=False))


def main() -> None:
    try:
        app()
    except SystemExit as e:  # how Typer always ends
        if isinstance(e.code, str):
            _say_error(e.code)
        _leave(e.code if isinstance(e.code, int) else (0 if e.code is None else 1))
    except KeyboardInterrupt:
        _say_error("interrupted")
        _leave(int(ExitCode.INTERRUPTED))
    _leave(0)


def _leave(code: int) -> NoReturn:
    """End the process at once, once the output is flushed.

    Every file opinionkit writes is complete, fsynced and closed before a command returns,
    and its worker processes and threads have been joined; what is left for the
    interpreter's own teardown is freeing memory (qpdf's and Typst's caches, the models),
    about 0.2 s after a bundle, which nobody waits for on purpose. A standard output that
    is closed, full or a broken pipe turns a successful exit into 4."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or int(ExitCode.OUTPUT)
    os._exit(code)

"""The `opinionkit` command: parse arguments, call one library function, report, exit.

Nothing imports this module. Every error a user can cause ends in a one-line message and
a documented exit code, never a traceback (set OPINIONKIT_DEBUG=1 to see one for a bug).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from opinionkit import __version__
from opinionkit.errors import ExitCode, OpinionkitError

app = typer.Typer(
    name="opinionkit",
    help="Check and assemble the records packet for a cancer second opinion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
)

T = TypeVar("T")


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(code: ExitCode, message: str, hint: str | None = None) -> NoReturn:
    err = _stderr()
    err.print(f"[bold red]opinionkit:[/] {_escape(message)}")
    if hint:
        err.print(f"  [green]→ {_escape(hint)}[/]")
    raise typer.Exit(int(code))


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _guard(fn: Callable[[], T]) -> T:
    """Run a library call, turning every failure into a message and an exit code."""
    try:
        return fn()
    except OpinionkitError as e:
        _fail(e.exit_code, e.message, e.hint)
    except KeyboardInterrupt:
        _fail(ExitCode.INTERRUPTED, "interrupted; nothing partial was left behind")
    except typer.Exit:
        raise
    except Exception as e:  # a bug: say so plainly, without a traceback or data
        if os.environ.get("OPINIONKIT_DEBUG"):
            raise
        _fail(
            ExitCode.INTERNAL,
            f"internal error ({type(e).__name__}); this is a bug in opinionkit",
            "please report it with the command you ran (set OPINIONKIT_DEBUG=1 for details; "
            "the details may contain file content, so check before sharing)",
        )


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


JOBS_HELP = "Cases worked on at once, in separate processes (default 1)."


# Options shared by several commands (one definition, one help text).
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
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help=JOBS_HELP)]


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A Rich progress bar on stderr at a terminal; nothing in scripts."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr(),
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


@app.command()
def check(
    cases: Annotated[
        list[Path] | None,
        typer.Argument(help="Case files to check (default: ./case.yaml).", show_default=False),
    ] = None,
    profile: ProfileOpt = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text for people, json for scripts.")
    ] = OutputFormat.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings fail too (exit code 1).")
    ] = False,
    today: TodayOpt = None,
    timeout: TimeoutOpt = 30.0,
    memory_mb: MemoryOpt = 1536,
    max_file_mb: Annotated[
        int, typer.Option("--max-file-mb", min=1, help="Largest record file accepted (MB).")
    ] = 200,
    jobs: JobsOpt = 1,
) -> None:
    """Report what is missing or wrong in one or more case files."""
    from opinionkit.check import CheckOptions, check_paths
    from opinionkit.inspect.limits import Limits
    from opinionkit.report import render_text, to_json

    paths = cases or [Path("case.yaml")]
    day = _parse_day(today)
    options = CheckOptions(
        profile=profile,
        today=day,
        limits=Limits(seconds=timeout, memory_mb=memory_mb),
        max_file_mb=max_file_mb,
    )
    import json

    from opinionkit.report import case_to_dict

    with _progress(len(paths), output_format is OutputFormat.text) as tick:

        def done(index: int, case: Any) -> None:
            tick()
            if output_format is OutputFormat.jsonl:  # one line per case, as each finishes
                line = {"index": index, **case_to_dict(case, strict)}
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
                sys.stdout.flush()

        result = _guard(lambda: check_paths(paths, options, jobs=jobs, on_result=done))
    if output_format is OutputFormat.json:
        sys.stdout.write(to_json(result, strict) + "\n")
    elif output_format is OutputFormat.text:
        render_text(result, Console(highlight=False), strict)
    raise typer.Exit(int(result.exit_code(strict)))


def _parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(ExitCode.USAGE, "--today takes a date written as YYYY-MM-DD")


@app.command()
def profiles() -> None:
    """List the shipped profiles and what each requires."""
    from opinionkit.profiles import load_profile, shipped

    console = Console(highlight=False)
    for name in shipped():
        prof = _guard(lambda name=name: load_profile(name))  # type: ignore[misc]
        table = Table(title=f"{prof.id} — {prof.title}", title_justify="left", show_lines=False)
        table.add_column("requirement")
        table.add_column("level")
        table.add_column("check", style="dim")
        for req in prof.requirements:
            table.add_row(req.label, req.level, req.check)
        console.print(table)
        console.print()


@app.command()
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
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output folder.")
    ] = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Bundle a case that has errors; the cover letter lists what is missing.",
        ),
    ] = False,
    profile: ProfileOpt = None,
    templates: Annotated[
        Path | None,
        typer.Option(
            "--templates",
            help="Folder of templates overriding or extending the shipped ones.",
            metavar="DIR",
        ),
    ] = None,
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
    ] = "OPINIONKIT_PASSWORD",
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
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text for people, json for scripts.")
    ] = OutputFormat.text,
    today: TodayOpt = None,
    timeout: TimeoutOpt = 30.0,
    memory_mb: MemoryOpt = 1536,
    template_timeout: Annotated[
        float,
        typer.Option("--template-timeout", min=1, help="Seconds allowed to render --templates."),
    ] = 60.0,
    template_memory_mb: Annotated[
        int,
        typer.Option(
            "--template-memory-mb", min=256, help="Memory allowed to render --templates (MB)."
        ),
    ] = 2048,
    jobs: JobsOpt = 1,
) -> None:
    """Check each case, then write its packet PDF, cover letter, manifest and imaging."""
    import json

    from opinionkit.bundle import BundleOptions, bundle_paths, parse_size
    from opinionkit.check import CheckOptions
    from opinionkit.inspect.limits import Limits

    paths = cases or [Path("case.yaml")]
    limit = _guard(lambda: parse_size(max_size)) if max_size else None
    if password_file is not None and not encrypt:
        _fail(ExitCode.USAGE, "--password-file is only used with --encrypt")
    options = BundleOptions(
        out=out,
        force=force,
        allow_incomplete=allow_incomplete,
        templates=templates,
        encrypt=encrypt,
        password_env=password_env,
        password_file=password_file,
        max_size=limit,
        bates_prefix=bates,
        bates_start=bates_start,
        dicomdir=dicomdir,
        check=CheckOptions(
            profile=profile,
            today=_parse_day(today),
            limits=Limits(seconds=timeout, memory_mb=memory_mb),
        ),
        template_limits=Limits(seconds=template_timeout, memory_mb=template_memory_mb),
    )
    console = Console(highlight=False)
    err = _stderr()

    def case_doc(path: Path, res: Any, error: OpinionkitError | None) -> dict[str, Any]:
        return {
            "file": str(path),
            "exit_code": int(error.exit_code) if error else 0,
            "out": str(res.out) if res and res.out else None,
            "pages": res.pages if res else None,
            "volumes": res.volumes if res else None,
            "outputs": [o.__dict__ for o in res.outputs] if res else [],
            "notes": res.notes if res else [],
            "error": error.message if error else None,
        }

    def report(path: Path, res: object, error: OpinionkitError | None) -> None:
        tick()
        if output_format is OutputFormat.jsonl:
            sys.stdout.write(json.dumps(case_doc(path, res, error), ensure_ascii=False) + "\n")
            sys.stdout.flush()
            return
        if output_format is OutputFormat.json:
            return
        from opinionkit.bundle import BundleRefused, BundleResult

        if isinstance(res, BundleResult):
            assert res.out is not None
            console.print(
                f"[bold green]✓[/] {_escape(str(path))} → {_escape(str(res.out))}  "
                f"({res.pages} pages"
                + (f", {res.volumes} volumes" if res.volumes > 1 else "")
                + ")"
            )
            for o in res.outputs:
                console.print(f"    {_escape(o.name)}  {o.size:,} bytes")
            for note in res.notes:
                console.print(f"    [yellow]note:[/] {_escape(note)}")
            if res.missing:
                console.print(
                    f"    [yellow]incomplete:[/] {len(res.missing)} problem(s) listed "
                    "in the cover letter"
                )
        elif error is not None:
            text = error.message if str(path) in error.message else f"{path}: {error.message}"
            err.print(f"[bold red]✗[/] {_escape(text)}")
            if isinstance(error, BundleRefused):
                for f in error.case.findings.errors[:10]:
                    err.print(f"    {_escape(f.location or '')}  {f.code}  {_escape(f.message)}")
            if error.hint:
                err.print(f"  [green]→ {_escape(error.hint)}[/]")

    with _progress(len(paths), output_format is OutputFormat.text) as tick:
        results = _guard(lambda: bundle_paths(paths, options, report, jobs=jobs))
    codes = [int(e.exit_code) if e else 0 for _, _, e in results]
    if output_format is OutputFormat.json:
        doc = {
            "schema": "opinionkit.bundle/1",
            "tool": {"name": "opinionkit", "version": __version__},
            "cases": [case_doc(p, r, e) for p, r, e in results],
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif output_format is OutputFormat.text and len(results) > 1:
        ok = sum(1 for c in codes if c == 0)
        console.print(f"[bold]{len(results)} cases: {ok} bundled, {len(results) - ok} not[/]")
    raise typer.Exit(max(codes, default=0))


@app.command()
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

    ask = sys.stdin.isatty() if interactive is None else interactive
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
        _fail(ExitCode.USAGE, "--sender is one of patient, guardian, referring-doctor")
    result = _guard(lambda: init_case(folder, answers))
    console = Console(highlight=False)
    console.print(f"[bold green]✓[/] new case in {_escape(str(result.folder))}")
    for p in result.created:
        console.print(f"    {_escape(str(p))}")
    console.print(
        f"  next: fill in {_escape(str(folder / 'case.yaml'))} (its comments show every "
        f"section), put the records in {_escape(str(folder / 'records'))}, then run "
        f"[bold]opinionkit check {_escape(str(folder / 'case.yaml'))}[/]"
    )


@app.command()
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the case file (for editors and other tools)."""
    import json

    from opinionkit.pdf.atomic import atomic_write
    from opinionkit.schema import case_schema

    text = json.dumps(case_schema(), indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    _guard(lambda: atomic_write(out, text.encode(), force=True, mode=0o644))


@app.command()
def request(
    case: Annotated[Path, typer.Argument(help="The case file.")] = Path("case.yaml"),
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (default ./<case_id>-requests)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing folder.")] = False,
    profile: ProfileOpt = None,
    today: TodayOpt = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text for people, json for scripts.")
    ] = OutputFormat.text,
) -> None:
    """Write records-request letters and release authorisations for what is missing."""
    import json

    from opinionkit.check import CheckOptions, check_case
    from opinionkit.requests import plan_requests, write_requests

    checked = _guard(
        lambda: check_case(case, CheckOptions(profile=profile, today=_parse_day(today)))
    )
    if checked.unreadable or checked.loaded is None or checked.loaded.case is None:
        _fail(
            ExitCode.INPUT,
            f"{case}: the case file could not be read",
            "run opinionkit check on it to see why",
        )
    case_id = checked.loaded.case.case_id
    target = out or Path.cwd() / f"{case_id}-requests"
    if not plan_requests(checked):
        if output_format is OutputFormat.text:
            Console(highlight=False).print(
                "[bold green]✓[/] nothing is missing or requested: no letters to write"
            )
        else:
            sys.stdout.write(
                json.dumps(
                    {
                        "schema": "opinionkit.requests/1",
                        "case_id": case_id,
                        "requests": [],
                        "files": [],
                    }
                )
                + "\n"
            )
        raise typer.Exit(0)
    result = _guard(lambda: write_requests(checked, target, force=force))
    if output_format is not OutputFormat.text:
        sys.stdout.write((target / "requests.json").read_text())
        raise typer.Exit(0)
    console = Console(highlight=False)
    console.print(f"[bold green]✓[/] {len(result.requests)} request(s) in {_escape(str(target))}")
    for r in result.requests:
        console.print(f"  [bold]{_escape(r.facility)}[/]: {len(r.items)} item(s)")
        for item in r.items:
            console.print(f"    - {_escape(item.what)}")
    console.print(
        "  next: sign each authorisation, send it with its letter; when records "
        "arrive, add them under records: (status: received) and run check again"
    )


@app.command()
def export(
    case: Annotated[Path, typer.Argument(help="The case file.")] = Path("case.yaml"),
    fhir: Annotated[
        bool, typer.Option("--fhir", help="A FHIR R4 collection Bundle shaped after mCODE.")
    ] = False,
    manifest: Annotated[
        Path | None,
        typer.Option("--manifest", help="A bundle's manifest.json: adds packet page ranges."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Export the case for other systems (FHIR R4)."""
    import json

    from opinionkit.check import CheckOptions, check_case
    from opinionkit.fhir import export_fhir
    from opinionkit.pdf.atomic import atomic_write

    if not fhir:
        _fail(ExitCode.USAGE, "say which export: --fhir")
    checked = _guard(lambda: check_case(case, CheckOptions()))
    if checked.unreadable or checked.loaded is None or checked.loaded.case is None:
        _fail(
            ExitCode.INPUT,
            f"{case}: the case file could not be read",
            "run opinionkit check on it to see why",
        )
    data = None
    if manifest is not None:
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            if data.get("schema") != "opinionkit.manifest/1":
                raise ValueError
        except (OSError, ValueError, AttributeError):
            _fail(ExitCode.INPUT, f"{manifest}: not an opinionkit manifest.json")
    doc = export_fhir(checked, data)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        _guard(lambda: atomic_write(out, text.encode(), force=force))
    raise typer.Exit(0)


def main() -> None:
    try:
        app()
    except SystemExit as e:  # how Typer always ends
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        _leave(e.code if isinstance(e.code, int) else (0 if e.code is None else 1))
    except KeyboardInterrupt:
        _stderr().print("[bold red]opinionkit:[/] interrupted")
        _leave(int(ExitCode.INTERRUPTED))
    _leave(0)


def _leave(code: int) -> NoReturn:
    """End the process at once, once the output is flushed.

    Every file opinionkit writes is complete, fsynced and closed before a command returns,
    and its worker processes and threads have been joined; what is left for the
    interpreter's own teardown is freeing memory (qpdf's and Typst's caches, the models),
    about 0.2 s after a bundle, which nobody waits for on purpose."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # e.g. stdout was a pipe closed by `head`
        code = code or int(ExitCode.OUTPUT)
    os._exit(code)

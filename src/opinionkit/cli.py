"""The `opinionkit` command: parse arguments, call one library function, report, exit.

Nothing imports this module. Every error a user can cause ends in a one-line message and
a documented exit code, never a traceback (set OPINIONKIT_DEBUG=1 to see one for a bug).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

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
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="Profile name (see `opinionkit profiles`) or profile file; "
            "overrides the case file's profile:.",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text for people, json for scripts.")
    ] = OutputFormat.text,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings fail too (exit code 1).")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="Judge dates against this day (YYYY-MM-DD) instead of today.",
            metavar="DATE",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds allowed to read one record file.")
    ] = 30.0,
    memory_mb: Annotated[
        int,
        typer.Option("--memory-mb", min=128, help="Memory allowed to read one record file (MB)."),
    ] = 1536,
    max_file_mb: Annotated[
        int, typer.Option("--max-file-mb", min=1, help="Largest record file accepted (MB).")
    ] = 200,
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
    result = _guard(lambda: check_paths(paths, options))
    if output_format is OutputFormat.json:
        sys.stdout.write(to_json(result, strict) + "\n")
    else:
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
    profile: Annotated[
        str | None,
        typer.Option("--profile", "-p", help="Profile name or file (overrides the case file)."),
    ] = None,
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
    today: Annotated[
        str | None,
        typer.Option("--today", help="Judge dates against this day (YYYY-MM-DD).", metavar="DATE"),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds allowed to read one record file.")
    ] = 30.0,
    memory_mb: Annotated[
        int,
        typer.Option("--memory-mb", min=128, help="Memory allowed to read one record file (MB)."),
    ] = 1536,
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

    def report(path: Path, res: object, error: OpinionkitError | None) -> None:
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
            err.print(f"[bold red]✗[/] {_escape(error.message)}")
            if isinstance(error, BundleRefused):
                for f in error.case.findings.errors[:10]:
                    err.print(f"    {_escape(f.location or '')}  {f.code}  {_escape(f.message)}")
            if error.hint:
                err.print(f"  [green]→ {_escape(error.hint)}[/]")

    results = _guard(lambda: bundle_paths(paths, options, report))
    codes = [int(e.exit_code) if e else 0 for _, _, e in results]
    if output_format is OutputFormat.json:
        doc = {
            "schema": "opinionkit.bundle/1",
            "tool": {"name": "opinionkit", "version": __version__},
            "cases": [
                {
                    "file": str(p),
                    "exit_code": code,
                    "out": str(r.out) if r and r.out else None,
                    "pages": r.pages if r else None,
                    "volumes": r.volumes if r else None,
                    "outputs": [o.__dict__ for o in r.outputs] if r else [],
                    "notes": r.notes if r else [],
                    "error": e.message if e else None,
                }
                for (p, r, e), code in zip(results, codes, strict=True)
            ],
        }
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    elif len(results) > 1:
        ok = sum(1 for c in codes if c == 0)
        console.print(f"[bold]{len(results)} cases: {ok} bundled, {len(results) - ok} not[/]")
    raise typer.Exit(max(codes, default=0))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        _stderr().print("[bold red]opinionkit:[/] interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))

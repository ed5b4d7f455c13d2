"""Reporters for check results, chosen by name: ``text`` (Rich) and ``json``.

The JSON shape is versioned (``"schema": "opinionkit.check/1"``) and documented in the
README; add fields, never rename or remove them within a version.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from opinionkit import __version__
from opinionkit.check import CaseResult, CheckResult
from opinionkit.findings import Severity

CHECK_SCHEMA = "opinionkit.check/1"

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_HEADING = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Notes"}


def case_verdict(case: CaseResult, strict: bool = False) -> str:
    if case.unreadable:
        return "unreadable"
    if case.findings.errors:
        return "errors"
    if case.findings.warnings:
        return "warnings-fail" if strict else "warnings"
    return "ok"


def case_to_dict(case: CaseResult, strict: bool = False) -> dict[str, Any]:
    records = []
    imaging = []
    for info in case.records:
        files = []
        for f in info.files:
            files.append(
                {
                    "path": f.rel,
                    "type": f.kind.value if f.kind else ("dicom-folder" if f.dicom else None),
                    "size": f.size,
                    "sha256": f.sha256,
                    "pages": f.pages,
                }
            )
            if f.dicom is not None:
                imaging.append(
                    {
                        "record": info.index,
                        "folder": f.rel,
                        "files": f.dicom.dicom_files,
                        "studies": [
                            {
                                "date": s.date.isoformat() if s.date else None,
                                "modalities": list(s.modalities),
                                "description": s.description,
                                "series": s.series_count,
                                "images": s.image_count,
                            }
                            for s in f.dicom.studies.values()
                        ],
                    }
                )
        records.append(
            {
                "index": info.index,
                "kind": info.record.kind.value,
                "status": info.record.status.value,
                "pages": info.pages,
                "files": files,
            }
        )
    return {
        "file": case.display,
        "case_id": case.case_id,
        "profile": case.profile.id if case.profile else None,
        "verdict": case_verdict(case, strict),
        "exit_code": int(case.exit_code(strict)),
        "counts": {s.value: case.findings.count(s) for s in Severity},
        "findings": [f.to_dict() for f in case.findings.sorted()],
        "records": records,
        "imaging": imaging,
    }


def to_json(result: CheckResult, strict: bool = False) -> str:
    cases = [case_to_dict(c, strict) for c in result.cases]
    doc = {
        "schema": CHECK_SCHEMA,
        "tool": {"name": "opinionkit", "version": __version__},
        "strict": strict,
        "exit_code": int(result.exit_code(strict)),
        "summary": {
            "cases": len(cases),
            **{s.value: sum(c["counts"][s.value] for c in cases) for s in Severity},
        },
        "cases": cases,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def render_text(result: CheckResult, console: Console, strict: bool = False) -> None:
    for i, case in enumerate(result.cases):
        if i:
            console.print()
        _render_case(case, console, strict)
    if len(result.cases) > 1:
        bad = sum(1 for c in result.cases if c.exit_code(strict))
        console.print()
        console.print(
            Text(
                f"{len(result.cases)} cases checked: {len(result.cases) - bad} ready, {bad} need work",
                style="bold",
            )
        )


def _render_case(case: CaseResult, console: Console, strict: bool) -> None:
    head = Text(case.display, style="bold")
    if case.case_id:
        head.append(f"  case {case.case_id}", style="dim")
    if case.profile:
        head.append(f"  profile {case.profile.id}", style="dim")
    console.print(head)
    for severity in Severity:
        items = [f for f in case.findings.sorted() if f.severity is severity]
        if not items:
            continue
        console.print(Text(f"  {_HEADING[severity]} ({len(items)})", style=_STYLE[severity]))
        for f in items:
            head = Text("    ")
            head.append(f.location or case.display, style="dim")
            head.append("  ")
            head.append(f.code, style=_STYLE[severity])
            message = Text(f.message)
            if f.path and f.path not in f.message:
                message.append(f"  [{f.path}]", style="dim")
            console.print(head)
            _indented(console, message)
            if f.hint:
                _indented(console, Text(f"→ {f.hint}", style="green"))
    console.print(_verdict(case, strict))


def _indented(console: Console, text: Text, indent: int = 6) -> None:
    """Print ``text`` wrapped to the console, every line indented, no trailing padding."""
    width = max(20, console.width - indent)
    for line in text.wrap(console, width):
        line.rstrip()
        console.print(Text(" " * indent) + line, soft_wrap=True)


def _verdict(case: CaseResult, strict: bool) -> Text:
    e = case.findings.count(Severity.ERROR)
    w = case.findings.count(Severity.WARNING)
    if case.unreadable:
        return Text(
            "  ✗ the case file could not be read — fix the problem above and run check again",
            style="bold red",
        )
    if e:
        return Text(
            f"  ✗ {e} error(s), {w} warning(s) — not ready: fix the errors above "
            "(each says what to do), then run opinionkit check again",
            style="bold red",
        )
    if w and strict:
        return Text(
            f"  ✗ {w} warning(s) fail under --strict — resolve them or drop --strict",
            style="bold yellow",
        )
    if w:
        return Text(f"  ✓ ready to bundle, with {w} warning(s) worth a look", style="bold green")
    return Text("  ✓ complete — ready to bundle (opinionkit bundle)", style="bold green")

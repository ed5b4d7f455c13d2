"""Reporters, chosen by name (``--format text|json|jsonl``), for ``check``, ``bundle``
and ``request`` results: :data:`CHECK_REPORTERS`, :data:`BUNDLE_REPORTERS`,
:data:`REQUEST_REPORTERS`.

The JSON shapes are versioned (``"schema": "opinionkit.check/1"``, ``opinionkit.bundle/1``,
``opinionkit.requests/1``) and documented in the README; add fields, never rename or
remove them within a version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.text import Text

from opinionkit import __version__
from opinionkit.check import CaseResult, CheckResult
from opinionkit.errors import OpinionkitError
from opinionkit.findings import Severity

if TYPE_CHECKING:
    from opinionkit.bundle import BundleResult
    from opinionkit.compare import CompareResult
    from opinionkit.requests import RequestResult
    from opinionkit.status import StatusReport

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
                    "identity": f.identity,
                    "evidence": list(f.evidence),
                    "withheld_pages": sorted(f.withheld_pages),
                    "withheld_files": dict(f.withheld_files),
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
                "identity": info.identity(),
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
    line = _identity_line(case)
    if line is not None:
        console.print(line)
    console.print(_verdict(case, strict))


_EVIDENCE = {"dicom": "DICOM", "ocr": "OCR", "text": "text"}


def _identity_line(case: CaseResult) -> Text | None:
    """``identity: 4 verified (text 3, DICOM 1), 1 confirmed, 1 withheld`` for the
    received records (their statuses as ``check --format json`` and the manifest give them)."""
    counts: dict[str, int] = {}
    evidence: dict[str, int] = {}
    for info in case.records:
        ident = info.identity()
        if ident["status"] == "requested":
            continue
        counts[ident["status"]] = counts.get(ident["status"], 0) + 1
        if ident["status"] == "verified":
            for e in ident["evidence"]:
                evidence[e] = evidence.get(e, 0) + 1
    if not counts:
        return None
    parts = []
    for status in ("verified", "confirmed", "not-verifiable", "withheld"):
        if status in counts:
            part = f"{counts[status]} {status}"
            if status == "verified" and evidence:
                part += (
                    " ("
                    + ", ".join(f"{_EVIDENCE.get(k, k)} {v}" for k, v in sorted(evidence.items()))
                    + ")"
                )
            parts.append(part)
    return Text("  identity of the records: " + ", ".join(parts), style="dim")


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


# ------------------------------------------------------------------ reporters, by name
#
# A reporter is told of each case as it finishes (``case``), then of the whole run
# (``end``); it writes to ``out`` (text) and never decides an exit code. The CLI picks
# one by the name given to ``--format``.


class CheckReporter:
    """Base: the run's results in the order given, whatever order they finish in."""

    def __init__(self, out: Console, strict: bool = False) -> None:
        self.out = out
        self.strict = strict

    def case(self, index: int, case: CaseResult) -> None:
        pass

    def end(self, result: CheckResult) -> None:
        pass


class CheckText(CheckReporter):
    def end(self, result: CheckResult) -> None:
        render_text(result, self.out, self.strict)


class CheckJson(CheckReporter):
    def end(self, result: CheckResult) -> None:
        write_line(self.out, to_json(result, self.strict))


class CheckJsonl(CheckReporter):
    def case(self, index: int, case: CaseResult) -> None:
        write_line(
            self.out,
            json.dumps({"index": index, **case_to_dict(case, self.strict)}, ensure_ascii=False),
        )


CHECK_REPORTERS: dict[str, type[CheckReporter]] = {
    "text": CheckText,
    "json": CheckJson,
    "jsonl": CheckJsonl,
}


def write_line(out: Console, text: str) -> None:
    """One line of machine-readable output, flushed at once (a full disk or a closed
    pipe is met here, inside the command, and mapped to its exit code)."""
    out.file.write(text + "\n")
    out.file.flush()


BUNDLE_SCHEMA = "opinionkit.bundle/1"


def bundle_case_to_dict(
    index: int, path: Path, res: BundleResult | None, error: OpinionkitError | None
) -> dict[str, Any]:
    """One case of ``bundle --format json|jsonl``: what was written, and the whole truth
    about what was not (``complete``, ``missing``, ``withheld``)."""
    from opinionkit.bundle import missing_problems, withheld_to_dict
    from opinionkit.check import CaseUnreadable

    checked = res.case if res is not None else getattr(error, "case", None)
    withheld: list[dict[str, Any]] = []
    missing: list[str] = []
    if res is not None:
        withheld = [withheld_to_dict(w) for w in res.withheld]
        missing = list(res.missing)
    elif isinstance(checked, CaseResult):
        try:
            usable = checked.usable()
        except CaseUnreadable:
            missing = [f.message for f in checked.findings.errors]
        else:
            missing = missing_problems(usable)
            withheld = [withheld_to_dict(w) for w in usable.withheld()]
    return {
        "index": index,
        "file": str(path),
        "case_id": checked.case_id if isinstance(checked, CaseResult) else None,
        "exit_code": int(error.exit_code) if error else 0,
        "out": str(res.out) if res and res.out else None,
        "complete": res.complete if res is not None else False,
        "missing": missing,
        "withheld": withheld,
        "pages": res.pages if res else None,
        "volumes": res.volumes if res else None,
        "outputs": [o.__dict__ for o in res.outputs] if res else [],
        "notes": list(res.notes) if res else [],
        "error": error.message if error else None,
    }


Outcome = tuple[Path, "BundleResult | None", "OpinionkitError | None"]


class BundleReporter:
    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err

    def case(
        self, index: int, path: Path, res: BundleResult | None, error: OpinionkitError | None
    ) -> None:
        pass

    def end(self, outcomes: list[Outcome]) -> None:
        pass


class BundleText(BundleReporter):
    def case(
        self, index: int, path: Path, res: BundleResult | None, error: OpinionkitError | None
    ) -> None:
        if res is not None:
            assert res.out is not None
            head = Text("✓ ", style="bold green")
            head.append(f"{path} → {res.out}  ({res.pages} pages")
            head.append(f", {res.volumes} volumes)" if res.volumes > 1 else ")")
            self.out.print(head)
            for o in res.outputs:
                self.out.print(Text(f"    {o.name}  {o.size:,} bytes"))
            for note in res.notes:
                self.out.print(Text("    note: ", style="yellow") + Text(note))
            if res.withheld:
                self.out.print(
                    Text("    withheld: ", style="bold yellow")
                    + Text(
                        f"{len(res.withheld)} file(s) or page(s) left out of the packet: "
                        + ", ".join(
                            f"{w.path}"
                            + (f" page(s) {', '.join(map(str, w.pages))}" if w.pages else "")
                            + f" ({w.code})"
                            for w in res.withheld[:5]
                        )
                        + (" …" if len(res.withheld) > 5 else "")
                    )
                )
            if res.missing:
                self.out.print(
                    Text("    incomplete: ", style="yellow")
                    + Text(f"{len(res.missing)} problem(s) listed in the cover letter")
                )
            loaded = res.case.loaded
            if loaded is not None and loaded.case is not None and loaded.case.sent is None:
                self.out.print(
                    "    next: when the packet goes out, write sent: YYYY-MM-DD in the case "
                    "file (opinionkit status then counts the days to the opinion)"
                )
            return
        assert error is not None
        text = error.message if str(path) in error.message else f"{path}: {error.message}"
        self.err.print(Text("✗ ", style="bold red") + Text(text))
        checked = getattr(error, "case", None)
        if isinstance(checked, CaseResult):
            for f in checked.findings.errors[:10]:
                self.err.print(Text(f"    {f.location or ''}  {f.code}  {f.message}"))
        if error.hint:
            self.err.print(Text(f"  → {error.hint}", style="green"))

    def end(self, outcomes: list[Outcome]) -> None:
        if len(outcomes) > 1:
            ok = sum(1 for _, _, e in outcomes if e is None)
            self.out.print(
                Text(f"{len(outcomes)} cases: {ok} bundled, {len(outcomes) - ok} not", style="bold")
            )


class BundleJson(BundleReporter):
    def end(self, outcomes: list[Outcome]) -> None:
        doc = {
            "schema": BUNDLE_SCHEMA,
            "tool": {"name": "opinionkit", "version": __version__},
            "cases": [bundle_case_to_dict(i, p, r, e) for i, (p, r, e) in enumerate(outcomes)],
        }
        write_line(self.out, json.dumps(doc, indent=2, ensure_ascii=False))


class BundleJsonl(BundleReporter):
    def case(
        self, index: int, path: Path, res: BundleResult | None, error: OpinionkitError | None
    ) -> None:
        write_line(
            self.out, json.dumps(bundle_case_to_dict(index, path, res, error), ensure_ascii=False)
        )


BUNDLE_REPORTERS: dict[str, type[BundleReporter]] = {
    "text": BundleText,
    "json": BundleJson,
    "jsonl": BundleJsonl,
}


class RequestReporter:
    def __init__(self, out: Console) -> None:
        self.out = out

    def report(self, result: RequestResult) -> None:
        pass


class RequestText(RequestReporter):
    def report(self, result: RequestResult) -> None:
        if not result.requests:
            self.out.print(
                Text("✓ ", style="bold green")
                + Text("nothing is missing or requested: no letters to write")
            )
            return
        self.out.print(
            Text("✓ ", style="bold green")
            + Text(f"{len(result.requests)} request(s) in {result.out}")
        )
        for r in result.requests:
            self.out.print(
                Text("  ") + Text(r.facility, style="bold") + Text(f": {len(r.items)} item(s)")
            )
            for item in r.items:
                self.out.print(Text(f"    - {item.what}"))
        self.out.print(
            "  next: sign each authorisation, send it with its letter; when records "
            "arrive, add them under records: (status: received) and run check again"
        )


class RequestJson(RequestReporter):
    def report(self, result: RequestResult) -> None:
        write_line(self.out, json.dumps(result.summary, indent=2, ensure_ascii=False))


REQUEST_REPORTERS: dict[str, type[RequestReporter]] = {
    "text": RequestText,
    "json": RequestJson,
    "jsonl": RequestJson,
}


class CompareReporter:
    def __init__(self, out: Console) -> None:
        self.out = out

    def report(self, result: CompareResult) -> None:
        pass


class CompareText(CompareReporter):
    def report(self, result: CompareResult) -> None:
        c = result.comparison
        self.out.print(
            Text("✓ ", style="bold green")
            + Text(f"{len(c.opinions)} opinion(s) compared in {result.out}")
        )
        for name in result.files:
            self.out.print(Text(f"    {name}"))
        if c.differences:
            self.out.print(Text(f"  {len(c.differences)} difference(s) marked", style="bold"))
        else:
            self.out.print(Text("  the opinions agree"))
        self.out.print(
            "  next: send the letter to the treating oncologist and take the comparison "
            "and its questions to the appointment"
        )


class CompareJson(CompareReporter):
    indent: int | None = 2

    def report(self, result: CompareResult) -> None:
        write_line(self.out, json.dumps(result.summary, indent=self.indent, ensure_ascii=False))


class CompareJsonl(CompareJson):
    """The same document on one line, as jsonl promises everywhere else."""

    indent = None


COMPARE_REPORTERS: dict[str, type[CompareReporter]] = {
    "text": CompareText,
    "json": CompareJson,
    "jsonl": CompareJsonl,
}


_STAGE_STYLE = {
    "unreadable": "bold red",
    "overdue": "bold red",
    "opinion-received": "bold yellow",
    "ready": "green",
    "gathering": "yellow",
    "opinion-due": "cyan",
    "sent": "cyan",
    "compared": "dim",
}


class StatusReporter:
    def __init__(self, out: Console) -> None:
        self.out = out

    def report(self, report: StatusReport) -> None:
        pass


class StatusTable(StatusReporter):
    """A Rich table for a person at a terminal."""

    def report(self, report: StatusReport) -> None:
        from rich.table import Table

        table = Table(
            title=f"Cases on {report.today.isoformat()}",
            title_justify="left",
            box=box.SIMPLE_HEAD,  # no vertical rules: room for every column at 80
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("case", no_wrap=True)
        if report.show_names:
            table.add_column("name")
        # the profile gives way first, so what is still requested keeps room at 80 columns
        table.add_column("profile", style="dim", overflow="fold")
        table.add_column("stage", no_wrap=True)
        table.add_column("due", no_wrap=True, min_width=10)
        table.add_column("still requested (facility, days)", ratio=1, min_width=14)
        table.add_column("err", justify="right", no_wrap=True, min_width=3)
        table.add_column("warn", justify="right", no_wrap=True, min_width=4)
        for c in report.cases:
            stage = c.stage.value
            due = c.due.isoformat() if c.due else ""
            if c.days_overdue:
                due += f" ({c.days_overdue} days late)"
            cells: list[str | Text] = [c.case_id or c.file]
            if report.show_names:
                cells.append(c.name or "")
            cells += [
                c.profile or "",
                Text(stage, style=_STAGE_STYLE.get(stage, "")),
                due,
                "\n".join(r.text for r in c.requested),
                str(c.errors),
                str(c.warnings),
            ]
            table.add_row(*cells)
        self.out.print(table)
        counts = report.to_dict()["stages"]
        self.out.print(
            Text(
                f"{len(report.cases)} case(s): "
                + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            )
        )


class StatusJson(StatusReporter):
    def report(self, report: StatusReport) -> None:
        write_line(self.out, json.dumps(report.to_dict(), indent=2, ensure_ascii=False))


class StatusJsonl(StatusReporter):
    """One case per line, each with the schema and the day it was judged on."""

    def report(self, report: StatusReport) -> None:
        from opinionkit.status import STATUS_SCHEMA

        for c in report.cases:
            line = {
                "schema": STATUS_SCHEMA,
                "today": report.today.isoformat(),
                **c.to_dict(report.show_names),
            }
            write_line(self.out, json.dumps(line, ensure_ascii=False))


class StatusCsv(StatusReporter):
    def report(self, report: StatusReport) -> None:
        self.out.file.write(report.to_csv())
        self.out.file.flush()


STATUS_REPORTERS: dict[str, type[StatusReporter]] = {
    "text": StatusTable,
    "json": StatusJson,
    "jsonl": StatusJsonl,
    "csv": StatusCsv,
}

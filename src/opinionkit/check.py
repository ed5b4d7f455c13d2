"""`check`: read case files and report every finding in one pass.

Library first: :func:`check_case` and :func:`check_paths` return result objects and never
print. The CLI and the reporters sit on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from opinionkit.checks.completeness import check_completeness
from opinionkit.checks.consistency import check_consistency
from opinionkit.checks.files import FileInfo, RecordInfo, check_files
from opinionkit.checks.glyphs import check_glyphs
from opinionkit.checks.opinion import check_opinions
from opinionkit.errors import ExitCode, InputError, OpinionkitError
from opinionkit.findings import Finding, Findings, Severity
from opinionkit.loading import LoadedCase, load_case
from opinionkit.models import Case, RecordStatus
from opinionkit.options import CheckOptions
from opinionkit.profiles import DEFAULT_PROFILE, Profile, load_profile

__all__ = [
    "CaseResult",
    "CaseUnreadable",
    "CheckOptions",
    "CheckResult",
    "UsableCase",
    "Withheld",
    "check_case",
    "check_paths",
    "is_placeholder",
]

PAEDIATRIC = "paediatric"


@dataclass
class CaseResult:
    path: Path
    display: str
    findings: Findings
    case_id: str | None = None
    profile: Profile | None = None
    records: list[RecordInfo] = field(default_factory=list)
    loaded: LoadedCase | None = None
    unreadable: bool = False

    @property
    def ok(self) -> bool:
        return not self.findings.errors and not self.unreadable

    def exit_code(self, strict: bool = False) -> ExitCode:
        if self.unreadable:
            return ExitCode.INPUT
        if self.findings.errors or (strict and self.findings.warnings):
            return ExitCode.FINDINGS
        return ExitCode.OK

    def usable(self) -> UsableCase:
        """The checked case, for a job that goes on from it (``bundle``, ``export``,
        ``request``): raises :class:`CaseUnreadable` when the case file could not be read
        or validated -- the one place that decides it."""
        loaded = self.loaded
        if self.unreadable or loaded is None or loaded.case is None or self.profile is None:
            raise CaseUnreadable(self)
        return UsableCase(self, loaded.case, loaded, self.profile)


class CaseUnreadable(InputError):
    """The case file could not be read or validated: nothing can be made from it."""

    def __init__(self, result: CaseResult) -> None:
        super().__init__(
            f"{result.display}: the case file could not be read",
            hint="run opinionkit check on it to see why",
        )
        self.case = result


@dataclass(frozen=True)
class Withheld:
    """A file the packet does not enclose, and why (the code of its finding)."""

    record: int
    path: str
    key: str
    code: str
    """The finding's code, or ``withhold`` for what the record's ``withhold:`` names."""
    translation: bool
    pages: tuple[int, ...] = ()
    """For part of a file: its pages (numbered in the record) left out."""
    reason: str | None = None
    """The ``withhold:`` reason."""


@dataclass(frozen=True)
class UsableCase:
    """A case whose file was read and validated, as ``check`` left it: its parts are
    never None, and nothing after ``check`` changes them."""

    result: CaseResult
    case: Case
    loaded: LoadedCase
    profile: Profile

    @property
    def records(self) -> list[RecordInfo]:
        return self.result.records

    @property
    def findings(self) -> Findings:
        return self.result.findings

    @property
    def path(self) -> Path:
        return self.result.path

    @property
    def display(self) -> str:
        return self.result.display

    def files(self) -> list[tuple[RecordInfo, FileInfo]]:
        """Every checked file of every received record, translations included."""
        return [(info, fi) for info in self.records for fi in info.all_files]

    def withheld(self) -> list[Withheld]:
        """What ``check`` withheld from the packet, in case order: whole files (another
        patient's, unreadable ...), files inside a DICOM folder, and pages named by a
        record's ``withhold:``."""
        out: list[Withheld] = []
        for info, fi in self.files():
            translation = fi.role.value == "translation"
            w = info.record.withhold
            reason = w.reason if w is not None else None
            if fi.withheld is not None:
                out.append(Withheld(info.index, fi.rel, fi.key_str, fi.withheld, translation))
                continue
            for name, code in fi.withheld_files.items():
                out.append(
                    Withheld(
                        info.index,
                        f"{fi.rel}/{name}",
                        fi.key_str,
                        code,
                        translation,
                        reason=reason if code == "withhold" else None,
                    )
                )
            if fi.withheld_pages:
                first = sum(f.pages for f in info.files[: info.files.index(fi)])
                out.append(
                    Withheld(
                        info.index,
                        fi.rel,
                        f"records[{info.index}].withhold",
                        "withhold",
                        translation,
                        pages=tuple(sorted(first + p for p in fi.withheld_pages)),
                        reason=reason,
                    )
                )
        return out

    def inputs(self) -> list[Path]:
        """What the case reads (its file, folder and every record path): no output may
        replace any of them (:mod:`opinionkit.output`)."""
        found = [self.path, self.path.parent]
        for info in self.records:
            for rel in info.record.paths + (
                [info.record.translation] if info.record.translation else []
            ):
                found.append(self.path.parent / rel)
        return found


@dataclass
class CheckResult:
    cases: list[CaseResult]

    def exit_code(self, strict: bool = False) -> ExitCode:
        return max((c.exit_code(strict) for c in self.cases), default=ExitCode.OK)


def resolve_profile(
    loaded: LoadedCase, override: str | Path | None
) -> tuple[Profile, list[Finding]]:
    """The profile to use: command line, else the case's ``profile:``, else adult-general."""
    notes: list[Finding] = []
    name: str | Path
    if override is not None:
        name = override
    elif loaded.case is not None and loaded.case.profile:
        name = loaded.case.profile
        try:
            return load_profile(name), notes
        except OpinionkitError as e:
            notes.append(
                Finding(
                    "profile.unknown",
                    Severity.ERROR,
                    e.message,
                    e.hint,
                    **loaded.where(("profile",)),
                )
            )
            name = DEFAULT_PROFILE
    else:
        name = DEFAULT_PROFILE
        notes.append(
            Finding(
                "profile.default",
                Severity.INFO,
                f"no profile given; using {DEFAULT_PROFILE}",
                "set profile: in the case file or pass --profile",
                file=loaded.display,
            )
        )
    return load_profile(name), notes


def is_placeholder(value: object) -> bool:
    """Whether a case-file value still reads TODO (as `opinionkit init` writes it): such
    a value is no information, is flagged by ``check`` and never exported."""
    return isinstance(value, str) and value.strip().upper().startswith("TODO")


def _placeholders(loaded: LoadedCase) -> list[Finding]:
    """Values still reading TODO (as `opinionkit init` writes them) are not information."""
    out: list[Finding] = []
    if loaded.doc is None:
        return out

    def walk(value: object, path: tuple[str | int, ...]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, (*path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, (*path, i))
        elif is_placeholder(value):
            out.append(
                Finding(
                    "value.placeholder",
                    Severity.ERROR,
                    "this value is still a TODO placeholder",
                    "fill it in, or remove the line if it does not apply",
                    **loaded.where(path),
                )
            )

    walk(loaded.doc.data, ())
    return out


def _outstanding(loaded: LoadedCase) -> list[Finding]:
    """Records asked for and not received yet (status: requested): a reminder, not a fault."""
    case = loaded.case
    assert case is not None
    return [
        Finding(
            "record.outstanding",
            Severity.INFO,
            "requested, not received yet",
            "when it arrives, add its file and remove status: requested "
            "(opinionkit request writes the letters; requested: YYYY-MM-DD lets "
            "opinionkit status show how long it has waited)",
            **loaded.where(("records", i, "status")),
        )
        for i, rec in enumerate(case.records)
        if rec.status is RecordStatus.REQUESTED
    ]


def check_case(
    path: Path | str, options: CheckOptions | None = None, *, display: str | None = None
) -> CaseResult:
    """Check one case file. Raises only for a bad --profile (a usage problem, not the case's)."""
    options = options or CheckOptions()
    today = options.today or date.today()
    loaded = load_case(path, display=display)
    result = CaseResult(
        loaded.path, loaded.display, loaded.findings, loaded=loaded, unreadable=loaded.unreadable
    )
    if options.profile is not None:
        # A bad --profile is the caller's mistake: raise before reading anything else.
        load_profile(options.profile)
    case = loaded.case
    if case is None:
        return result
    result.case_id = case.case_id
    profile, notes = resolve_profile(loaded, options.profile)
    result.profile = profile
    loaded.findings.extend(notes)

    if case.age_on(today) < profile.minor_age and profile.id != PAEDIATRIC:
        loaded.findings.add(
            Finding(
                "profile.minor",
                Severity.WARNING,
                f"the patient is under {profile.minor_age}, but the case is checked with the "
                f"{profile.id} profile",
                "use the paediatric profile (profile: paediatric, or --profile paediatric)",
                **loaded.where(("profile",) if case.profile else ("patient", "date_of_birth")),
            )
        )
    loaded.findings.extend(_placeholders(loaded))
    loaded.findings.extend(_outstanding(loaded))
    loaded.findings.extend(check_completeness(loaded, profile, today))
    loaded.findings.extend(check_consistency(loaded, profile, today))
    loaded.findings.extend(check_glyphs(loaded))
    loaded.findings.extend(check_opinions(loaded, today))
    if options.files:
        records, file_findings = check_files(
            loaded,
            options.limits,
            options.max_file_mb,
            options.ocr,
            options.ocr_lines,
            trial_write=options.trial_write,
        )
        result.records = records
        loaded.findings.extend(file_findings)
    return result


def check_paths(
    paths: Iterable[Path | str],
    options: CheckOptions | None = None,
    *,
    jobs: int | None = None,
    on_result: Callable[[int, CaseResult], None] | None = None,
) -> CheckResult:
    """Check several case files, ``jobs`` processes at a time (default: one per CPU,
    :func:`opinionkit.batch.run_cases`); one bad file never stops the others.

    ``on_result(index, result)`` is called as each case finishes (in any order when
    ``jobs`` > 1); the returned results are in input order.
    """
    from opinionkit.batch import run_cases

    items = [Path(p) for p in paths]
    results: list[CaseResult | None] = [None] * len(items)
    for i, _path, result, error in run_cases(check_case, items, (options,), jobs):
        if error is not None:  # only a bad --profile raises: the same for every case
            raise error
        results[i] = result
        if on_result is not None:
            on_result(i, result)
    return CheckResult([r for r in results if r is not None])

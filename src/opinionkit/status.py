"""`status`: where each case of a records office stands, one row per case.

Reads case files only -- never a record file -- so it is fast over hundreds of cases:
each case is checked with ``CheckOptions(files=False)``, and its error and warning counts
are those of the case file's own checks (schema, placeholders, completeness, consistency,
opinions), not of file inspection (a missing or unreadable record file is not counted;
``opinionkit check`` finds those).

The stage, decided here once (:func:`stage_of`), in the order a case moves:

``gathering``  required items missing (errors) or records still requested;
``ready``      nothing missing and nothing requested: bundle it and send it;
``sent``       ``sent:`` is set, and no due date can be computed (no turnaround given);
``opinion-due`` sent, due on ``due`` (``sent`` + turnaround in business days);
``overdue``    past its due date with no opinion recorded;
``opinion-received`` an opinion is recorded under ``opinions:``;
``compared``   ``opinionkit compare`` wrote ``<case_id>-after-opinion/`` beside the case
               file (recognised by the inventory it leaves there);
``unreadable`` the case file cannot be read or validated (fix it first).

Rows are sorted by urgency (:data:`URGENCY`): unreadable, overdue (most days late first),
opinion-received (oldest first), ready, gathering (longest-waiting request first),
opinion-due (soonest first), sent, compared; then by case id.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

from opinionkit.check import check_case
from opinionkit.clock import due_date
from opinionkit.errors import InputError
from opinionkit.findings import Severity
from opinionkit.models import Case, RecordStatus
from opinionkit.options import CheckOptions, StatusOptions
from opinionkit.output import INVENTORY

__all__ = [
    "STATUS_SCHEMA",
    "URGENCY",
    "CaseStatus",
    "Requested",
    "Stage",
    "StatusReport",
    "find_cases",
    "stage_of",
    "status_of",
    "status_paths",
]

STATUS_SCHEMA = "opinionkit.status/1"
CASE_FILE = "case.yaml"
CSV_COLUMNS = (
    "case_id",
    "name",
    "profile",
    "stage",
    "due",
    "days_overdue",
    "sent",
    "opinion_received",
    "requested",
    "errors",
    "warnings",
    "file",
)


class Stage(str, Enum):
    UNREADABLE = "unreadable"
    GATHERING = "gathering"
    READY = "ready"
    SENT = "sent"
    OPINION_DUE = "opinion-due"
    OVERDUE = "overdue"
    OPINION_RECEIVED = "opinion-received"
    COMPARED = "compared"


URGENCY = (
    Stage.UNREADABLE,
    Stage.OVERDUE,
    Stage.OPINION_RECEIVED,
    Stage.READY,
    Stage.GATHERING,
    Stage.OPINION_DUE,
    Stage.SENT,
    Stage.COMPARED,
)
"""Stages from the most to the least urgent (what a records office does first)."""


@dataclass
class Requested:
    """A record asked for and not received yet."""

    title: str
    kind: str
    facility: str | None
    requested: date | None
    """``requested:`` on the record, when given."""
    days: int | None
    """Days since it was asked for."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "kind": self.kind,
            "facility": self.facility,
            "requested": self.requested.isoformat() if self.requested else None,
            "days": self.days,
        }

    @property
    def text(self) -> str:
        where = f", {self.facility}" if self.facility else ""
        ago = f", {self.days} days" if self.days is not None else ""
        return f"{self.title}{where}{ago}"


@dataclass
class CaseStatus:
    file: str
    stage: Stage
    case_id: str | None = None
    name: str | None = None
    """The patient's name; filled only with ``show_names``."""
    profile: str | None = None
    due: date | None = None
    days_overdue: int | None = None
    sent: date | None = None
    opinion_received: date | None = None
    requested: list[Requested] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0

    def sort_key(self) -> tuple[Any, ...]:
        rank = URGENCY.index(self.stage)
        if self.stage is Stage.OVERDUE:
            within: Any = -(self.days_overdue or 0)
        elif self.stage is Stage.OPINION_DUE:
            within = (self.due or date.max).toordinal()
        elif self.stage is Stage.GATHERING:
            within = -max((r.days or 0 for r in self.requested), default=0)
        elif self.stage is Stage.OPINION_RECEIVED:
            within = (self.opinion_received or date.max).toordinal()
        else:
            within = 0
        return (rank, within, self.case_id or "", self.file)

    def to_dict(self, show_names: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "case_id": self.case_id,
            "profile": self.profile,
            "stage": self.stage.value,
            "due": self.due.isoformat() if self.due else None,
            "days_overdue": self.days_overdue,
            "sent": self.sent.isoformat() if self.sent else None,
            "opinion_received": (
                self.opinion_received.isoformat() if self.opinion_received else None
            ),
            "requested": [r.to_dict() for r in self.requested],
            "errors": self.errors,
            "warnings": self.warnings,
            "file": self.file,
        }
        if show_names:
            d["name"] = self.name
        return d

    def csv_row(self, show_names: bool = False) -> dict[str, Any]:
        d = self.to_dict(show_names)
        d["requested"] = "; ".join(r.text for r in self.requested)
        d.setdefault("name", "")
        return {k: ("" if d.get(k) is None else d[k]) for k in CSV_COLUMNS}


@dataclass
class StatusReport:
    today: date
    cases: list[CaseStatus]
    show_names: bool = False

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for c in self.cases:
            counts[c.stage.value] = counts.get(c.stage.value, 0) + 1
        return {
            "schema": STATUS_SCHEMA,
            "today": self.today.isoformat(),
            "stages": counts,
            "cases": [c.to_dict(self.show_names) for c in self.cases],
        }

    def to_csv(self) -> str:
        buf = io.StringIO()
        columns = [c for c in CSV_COLUMNS if self.show_names or c != "name"]
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for c in self.cases:
            writer.writerow(c.csv_row(self.show_names))
        return buf.getvalue()


def _requested(case: Case, today: date) -> list[Requested]:
    home = case.care_team.treating_oncologist.facility
    return [
        Requested(
            r.title,
            r.kind.value,
            r.source or home,
            r.requested,
            (today - r.requested).days if r.requested else None,
        )
        for r in case.records
        if r.status is RecordStatus.REQUESTED
    ]


def compared(case_file: Path, case_id: str) -> bool:
    """Whether ``compare`` wrote its folder beside the case file."""
    from opinionkit.compare import default_out

    return (default_out(case_file, case_id) / INVENTORY).is_file()


def stage_of(case: Case, errors: int, today: date, *, was_compared: bool = False) -> Stage:
    """The case's stage (see the module docstring): the one place it is decided."""
    if case.opinions:
        return Stage.COMPARED if was_compared else Stage.OPINION_RECEIVED
    if case.sent is not None:
        due = due_date(case)
        if due is None:
            return Stage.SENT
        return Stage.OVERDUE if today > due else Stage.OPINION_DUE
    if errors or any(r.status is RecordStatus.REQUESTED for r in case.records):
        return Stage.GATHERING
    return Stage.READY


def status_of(path: Path, options: StatusOptions | None = None) -> CaseStatus:
    """The status row of one case file (never reads its record files)."""
    options = options or StatusOptions()
    today = options.today or date.today()
    result = check_case(path, CheckOptions(profile=options.profile, today=today, files=False))
    errors = result.findings.count(Severity.ERROR)
    warnings = result.findings.count(Severity.WARNING)
    loaded = result.loaded
    if result.unreadable or loaded is None or loaded.case is None:
        return CaseStatus(str(path), Stage.UNREADABLE, errors=errors, warnings=warnings)
    case = loaded.case
    stage = stage_of(case, errors, today, was_compared=compared(Path(path), case.case_id))
    due = due_date(case)
    received = [o.received for o in case.opinions if o.received]
    return CaseStatus(
        file=str(path),
        stage=stage,
        case_id=case.case_id,
        name=case.patient.name if options.show_names else None,
        profile=result.profile.id if result.profile else case.profile,
        due=due,
        days_overdue=(today - due).days if stage is Stage.OVERDUE and due else None,
        sent=case.sent,
        opinion_received=max(received) if received else None,
        requested=_requested(case, today),
        errors=errors,
        warnings=warnings,
    )


def find_cases(paths: Iterable[Path | str]) -> list[Path]:
    """Case files named by ``paths``: a file as given; a folder searched (recursively) for
    ``case.yaml`` files, outside hidden folders and opinionkit's own output folders (those
    holding its inventory). A path that does not exist is an :class:`InputError`."""
    found: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if not d.startswith(".") and not (Path(root) / d / INVENTORY).exists()
                )
                if CASE_FILE in names:
                    found.append(Path(root) / CASE_FILE)
        else:
            raise InputError(f"{p}: no such case file or folder")
    return found


def status_paths(paths: Iterable[Path | str], options: StatusOptions | None = None) -> StatusReport:
    """One row per case file found under ``paths``, sorted by urgency."""
    options = options or StatusOptions()
    today = options.today or date.today()
    rows = [status_of(p, options) for p in find_cases(paths)]
    rows.sort(key=CaseStatus.sort_key)
    return StatusReport(today, rows, options.show_names)

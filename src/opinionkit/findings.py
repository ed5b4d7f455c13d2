"""Problems as data: a finding, and the report that collects them.

A finding never carries a value from the case file: it names the file, the line and
column, and the key path (``records[2].file``) instead, so reports and logs can be shared
without leaking patient data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    """Stable identifier, e.g. ``file.not-found``. Listed in the README."""
    severity: Severity
    message: str
    hint: str | None = None
    file: str | None = None
    """The case file (or profile) the finding is about."""
    line: int | None = None
    """1-based line in ``file``."""
    column: int | None = None
    """1-based column in ``file``."""
    key: str | None = None
    """Key path inside the case file, e.g. ``records[2].file``."""
    path: str | None = None
    """A record file or folder the finding is about, relative to the case folder."""

    @property
    def location(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        return d


@dataclass
class Findings:
    """An ordered, de-duplicated collection of findings."""

    items: list[Finding] = field(default_factory=list)
    _seen: set[Finding] = field(default_factory=set, init=False, repr=False, compare=False)

    def add(self, finding: Finding) -> None:
        # a set beside the list: a list lookup made 528 records' findings cost seconds
        if len(self._seen) != len(self.items):  # items was given or changed directly
            self._seen = set(self.items)
        if finding not in self._seen:
            self._seen.add(finding)
            self.items.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self.add(f)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.items if f.severity is severity)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.WARNING]

    def sorted(self) -> list[Finding]:
        return sorted(
            self.items,
            key=lambda f: (-f.severity.rank, f.line if f.line is not None else 1 << 30, f.code),
        )

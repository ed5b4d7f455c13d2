"""`init`: a new case folder with a commented case file, record folders and the schema.

Never overwrites: an existing case.yaml is an :class:`OutputExistsError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from opinionkit.errors import OutputError, UsageError
from opinionkit.pdf.atomic import atomic_write
from opinionkit.profiles import load_profile
from opinionkit.render.templating import render_template
from opinionkit.schema import case_schema

RECORDS_README = """Put the record files of this case here: PDFs, or scans (JPEG, PNG, TIFF).
DICOM images go in a folder of their own under imaging/, one folder per study
(copy the whole folder from the CD or download).
Name each file in case.yaml under records:, with a path relative to case.yaml.
"""


@dataclass
class InitAnswers:
    profile: str = "adult-general"
    case_id: str = "CASE-001"
    name: str = "TODO"
    date_of_birth: str = "TODO"
    sender_role: str = "patient"
    today: date = field(default_factory=date.today)


@dataclass
class InitResult:
    folder: Path
    created: list[Path]


def _yaml_text(value: str) -> str:
    """A value as a YAML double-quoted string (JSON strings are valid YAML)."""
    return json.dumps(value, ensure_ascii=False)


def init_case(folder: Path, answers: InitAnswers) -> InitResult:
    profile = load_profile(answers.profile)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", answers.case_id):
        raise UsageError(
            "the case id may hold letters, digits, '.', '_' and '-' (up to 40), no spaces",
            hint="for example DOE-001 (never the patient's name)",
        )
    if answers.date_of_birth != "TODO":
        try:
            date.fromisoformat(answers.date_of_birth)
        except ValueError:
            raise UsageError("the date of birth must be written YYYY-MM-DD") from None
    case_file = folder / "case.yaml"
    if case_file.exists() or case_file.is_symlink():
        raise OutputError(
            f"{case_file} already exists: init never overwrites a case file",
            hint="choose another folder, or edit the existing case.yaml",
        )
    text = render_template(
        "case.yaml.j2",
        {
            "profile": profile.id,
            "profile_title": profile.title,
            "case_id": answers.case_id,
            "name": _yaml_text(answers.name),
            "dob": answers.date_of_birth,
            "today": answers.today.isoformat(),
            "sender_role": answers.sender_role,
            "case_file": str(case_file),
        },
        text=True,
    )
    created: list[Path] = []
    try:
        for sub in (folder, folder / "records", folder / "records" / "imaging"):
            if not sub.exists():
                sub.mkdir(parents=True)
                created.append(sub)
        readme = folder / "records" / "README.txt"
        if not readme.exists():
            atomic_write(readme, RECORDS_README.encode(), force=False, mode=0o644)
            created.append(readme)
        schema_file = folder / "case.schema.json"
        atomic_write(
            schema_file,
            (json.dumps(case_schema(), indent=2) + "\n").encode(),
            force=True,
            mode=0o644,
        )
        created.append(schema_file)
        atomic_write(case_file, text.encode("utf-8"), force=False, mode=0o600)
        created.append(case_file)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create the case folder ({e.strerror})") from None
    return InitResult(folder, created)

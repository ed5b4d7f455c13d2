"""Read a case file: safe YAML, then the pydantic models, every problem as a finding.

Pydantic errors are converted here, where they enter the program: the error's ``input``
(which would copy patient data into logs) is dropped, the location is mapped back to the
YAML line and column, and unknown keys get a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from opinionkit import yamlsafe
from opinionkit.errors import InputError
from opinionkit.findings import Finding, Findings, Severity
from opinionkit.models import Case

MAX_CASE_BYTES = yamlsafe.MAX_BYTES


@dataclass
class LoadedCase:
    """The outcome of reading one case file. ``case`` is None when it could not be validated."""

    path: Path
    display: str
    """How the file is named in findings (as given on the command line)."""
    case: Case | None
    doc: yamlsafe.YamlDoc | None
    findings: Findings
    unreadable: bool = False
    """The file could not be read or parsed as YAML at all (exit code 3)."""

    def where(self, key_path: tuple[str | int, ...]) -> dict[str, Any]:
        """Finding fields (file, line, column, key) for a key path in this case file."""
        pos = self.doc.position(key_path) if self.doc else None
        return {
            "file": self.display,
            "line": pos.line if pos else None,
            "column": pos.column if pos else None,
            "key": yamlsafe.path_str(key_path) or None,
        }


def read_bytes_limited(path: Path, limit: int, what: str) -> bytes:
    """Read a small text input, refusing anything that is not a regular file or is too big."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as e:
        raise InputError(
            f"{what} {path} cannot be read ({e.strerror or type(e).__name__})"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{what} {path} is not a regular file")
    if st.st_size > limit:
        raise InputError(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB")
    try:
        with open(path, "rb") as fh:
            return fh.read(limit + 1)
    except OSError as e:
        raise InputError(
            f"{what} {path} cannot be read ({e.strerror or type(e).__name__})"
        ) from None


def load_case(path: Path | str, *, display: str | None = None) -> LoadedCase:
    """Read and validate one case file. Never raises for bad content: problems become findings."""
    path = Path(path)
    shown = display if display is not None else str(path)
    findings = Findings()
    try:
        raw = read_bytes_limited(path, MAX_CASE_BYTES, "case file")
    except InputError as e:
        findings.add(Finding("case.unreadable", Severity.ERROR, e.message, e.hint, file=shown))
        return LoadedCase(path, shown, None, None, findings, unreadable=True)
    try:
        doc = yamlsafe.parse(raw)
    except yamlsafe.YamlProblem as p:
        findings.add(
            Finding(
                p.code,
                Severity.ERROR,
                p.message,
                p.hint,
                file=shown,
                line=p.pos.line if p.pos else None,
                column=p.pos.column if p.pos else None,
            )
        )
        return LoadedCase(path, shown, None, None, findings, unreadable=True)
    loaded = LoadedCase(path, shown, None, doc, findings)
    if not isinstance(doc.data, dict):
        findings.add(
            Finding(
                "schema.not-a-mapping",
                Severity.ERROR,
                "a case file must be a mapping of keys (case_id:, patient:, ...)",
                "start from examples/ or `opinionkit init`",
                **loaded.where(()),
            )
        )
        loaded.unreadable = doc.data is None
        return loaded
    try:
        loaded.case = Case.model_validate(doc.data)
    except ValidationError as e:
        findings.extend(validation_findings(e, Case, loaded))
    return loaded


# --- pydantic errors -> findings ----------------------------------------------------------

_MESSAGES = {
    "missing": "required key is missing",
    "extra_forbidden": "unknown key",
    "string_too_short": "must not be empty",
    "string_type": "should be text",
    "int_parsing": "should be a whole number",
    "int_type": "should be a whole number",
    "int_from_float": "should be a whole number",
    "float_parsing": "should be a number",
    "float_type": "should be a number",
    "bool_parsing": "should be yes/no (true/false)",
    "bool_type": "should be yes/no (true/false)",
    "date_from_datetime_parsing": "should be a real date written as YYYY-MM-DD",
    "date_parsing": "should be a real date written as YYYY-MM-DD",
    "date_type": "should be a date written as YYYY-MM-DD",
    "list_type": "should be a list (lines starting with '- ')",
    "dict_type": "should be a mapping of keys",
    "model_type": "should be a mapping of keys",
    "model_attributes_type": "should be a mapping of keys",
}


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's union/validator branch labels (e.g. 'list[Medication]', 'function-before[...]')."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part.startswith(("function-", "literal"))):
            continue
        out.append(part)
    return tuple(out)


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that owns the fields at ``loc`` (for 'did you mean')."""
    current: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Find the model class inside list[X], X | None, Annotated[...] and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _unwrap(arg)
        if found is not None:
            return found
    if get_origin(annotation) is None:
        return None
    return None


# Words people type for a key, mapped to the key (checked before fuzzy matching).
SYNONYMS = {
    "dob": "date_of_birth",
    "birthdate": "date_of_birth",
    "birth_date": "date_of_birth",
    "born": "date_of_birth",
    "mrn": "mrns",
    "gender": "sex",
    "telephone": "phone",
    "mobile": "phone",
    "e-mail": "email",
    "mail": "email",
    "meds": "medications",
    "drugs": "medications",
    "allergy": "allergies",
    "guardian": "guardians",
    "parents": "guardians",
    "parent": "guardians",
    "doctor": "treating_oncologist",
    "oncologist": "treating_oncologist",
    "path": "file",
    "filename": "file",
    "pdf": "file",
    "dir": "folder",
    "directory": "folder",
    "question": "primary_question",
    "diagnosed": "date",
    "diagnosis_date": "date",
    "type": "kind",
    "frequency_per_day": "frequency",
    "dose_mg": "dose",
    "gy": "dose_gy",
    "dose_gray": "dose_gy",
    "password": "password_env",
}


def _suggest(word: str, choices: list[str]) -> str | None:
    low = word.strip().lower()
    if SYNONYMS.get(low) in choices:
        return SYNONYMS[low]
    norm = {c.replace("_", "").replace("-", ""): c for c in choices}
    if low.replace("_", "").replace("-", "").replace(" ", "") in norm:
        return norm[low.replace("_", "").replace("-", "").replace(" ", "")]
    guess = difflib.get_close_matches(low, choices, n=1, cutoff=0.6)
    return guess[0] if guess else None


def _value_at(data: Any, loc: tuple[str | int, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def validation_findings(
    error: ValidationError, root: type[BaseModel], loaded: LoadedCase, prefix: str = "schema"
) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[tuple[str | int, ...], str]] = set()
    # Unions report one error per branch; keep the first error per location and type family.
    errors = error.errors(include_input=False, include_url=False)
    locs = [_clean_loc(tuple(e["loc"])) for e in errors]
    for err, loc in zip(errors, locs, strict=True):
        etype = err["type"]
        if etype == "literal_error" and any(
            len(other) > len(loc) and other[: len(loc)] == loc for other in locs
        ):
            # A union branch (e.g. `medications: none`) that lost to a deeper, more useful error.
            continue
        family = "extra" if etype == "extra_forbidden" else "value"
        if (loc, family) in seen or (etype == "literal_error" and (loc, "value") in seen):
            continue
        seen.add((loc, family))
        where = loaded.where(loc)
        hint = None
        if etype == "extra_forbidden":
            key = str(loc[-1]) if loc else "?"
            owner = _model_at(root, loc[:-1])
            choices = list(owner.model_fields) if owner else []
            guess = _suggest(key, choices)
            message = f"unknown key '{yamlsafe._safe_key(key)}'"
            if guess:
                message += f" — did you mean '{guess}'?"
                hint = f"rename it to '{guess}'"
            elif choices:
                hint = "allowed here: " + ", ".join(choices)
            code = f"{prefix}.unknown-key"
        elif etype == "missing":
            message = f"required key '{loc[-1]}' is missing" if loc else "required key is missing"
            code = f"{prefix}.missing"
            hint = "add it (see examples/ for the shape)"
        else:
            base = _MESSAGES.get(etype)
            if base is None:
                # pydantic's own message; it never includes the input value (include_input=False),
                # but custom validators' messages start with "Value error, ".
                base = err["msg"].removeprefix("Value error, ")
            message = f"{yamlsafe.path_str(loc) or 'the file'}: {base}"
            code = f"{prefix}.invalid"
            if etype == "enum" and loaded.doc is not None:
                expected = [
                    c.strip(" '")
                    for c in str(err.get("ctx", {}).get("expected", ""))
                    .replace(" or ", ", ")
                    .split(",")
                ]
                typed = _value_at(loaded.doc.data, loc)
                guess = _suggest(typed, expected) if isinstance(typed, str) else None
                if guess:
                    message = (
                        f"{yamlsafe.path_str(loc)}: not a known value — did you mean '{guess}'?"
                    )
                    hint = "allowed: " + ", ".join(expected)
                else:
                    message = f"{yamlsafe.path_str(loc)}: not a known value"
                    hint = "allowed: " + ", ".join(expected)
        out.append(Finding(code, Severity.ERROR, message, hint, **where))
    return out

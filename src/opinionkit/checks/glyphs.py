"""Every value the packet prints can be drawn: a character no shipped font has is a finding.

Typst prints such a character as an empty box and says nothing, so a name could reach the
reviewers unreadable. :func:`check_glyphs` lays out every text value of the case with the
shipped fonts (:func:`opinionkit.render.fonts.undrawable`) and reports each value that
holds one, by key path (``patient.name``), never by its value or the character.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum

from pydantic import BaseModel

from opinionkit.findings import Finding, Severity
from opinionkit.loading import LoadedCase
from opinionkit.render import fonts
from opinionkit.yamlsafe import path_str

__all__ = ["NOT_PRINTED", "check_glyphs", "text_values"]

KeyPath = tuple[str | int, ...]

NOT_PRINTED = frozenset(
    {"file", "files", "folder", "translation", "password_env", "report", "id", "profile"}
)
"""Keys whose values name files, variables or other keys: never printed as text."""

CODE = "render.missing-glyph"


def text_values(value: object, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """Every text value in a case model, with its key path, in document order."""
    if isinstance(value, Enum):  # opinionkit's own words
        return
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            if name not in NOT_PRINTED:
                yield from text_values(getattr(value, name), (*path, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from text_values(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from text_values(item, (*path, str(key)))


def check_glyphs(loaded: LoadedCase) -> Iterator[Finding]:
    case = loaded.case
    assert case is not None
    values = list(text_values(case))
    for i in fonts.undrawable([text for _, text in values], fonts.case_face(case)):
        key = path_str(values[i][0])
        yield Finding(
            CODE,
            Severity.WARNING,
            f"{key} has a character that none of the shipped fonts can draw: it would print "
            "as an empty box in the packet",
            "look for an emoji or a symbol pasted by mistake; for a rare character, write "
            "the form the records use",
            **loaded.where(values[i][0]),
        )

"""The JSON Schema of the case file, generated from the pydantic models.

For editors (the YAML language server reads a ``# yaml-language-server: $schema=...``
comment) and for other tools. Values are described as a YAML 1.2 editor sees them:
numbers are numbers, dates are strings in ISO form, ``yes``/``no`` are text.
"""

from __future__ import annotations

from typing import Any

from opinionkit import __version__
from opinionkit.models import SCHEMA_VERSION, Case

SCHEMA_ID = f"https://opinionkit.invalid/schema/case-{SCHEMA_VERSION}.json"


def case_schema() -> dict[str, Any]:
    """The case file's JSON Schema (draft 2020-12)."""
    schema = Case.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "opinionkit case file",
        "description": (
            f"A second-opinion case for opinionkit {__version__} (schema_version "
            f"{SCHEMA_VERSION}). Generated from the models; `opinionkit check` is the authority."
        ),
        **{k: v for k, v in schema.items() if k != "title"},
    }

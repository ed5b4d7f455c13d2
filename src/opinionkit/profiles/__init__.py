"""Requirement profiles: data files saying what a case needs for a kind of review.

A profile is a YAML file with a list of requirements, each ``required`` or ``recommended``,
a plain-language label and hint, and a ``check`` naming one of the rules in
:mod:`opinionkit.checks.completeness` (with that rule's options beside it). The shipped
profiles live beside this module; a records office can write its own and pass its path.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from opinionkit import yamlsafe
from opinionkit.errors import ProfileError

DEFAULT_PROFILE = "adult-general"


class Requirement(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    check: str = Field(min_length=1)
    level: Literal["required", "recommended"]
    label: str = Field(min_length=1)
    hint: str = Field(min_length=1)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    title: str
    staging_imaging_max_days: int = Field(default=90, ge=1)
    minor_age: int = Field(default=18, ge=1, le=25)
    requirements: list[Requirement]
    source: str = ""
    """Where the profile was read from (filled in by the loader)."""


def shipped() -> list[str]:
    """Names of the profiles shipped with opinionkit."""
    return list(_shipped())


@functools.cache
def _shipped() -> tuple[str, ...]:
    folder = resources.files(__name__)
    return tuple(
        sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    )


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a shipped profile by name, or a profile file by path. A shipped profile is
    read once a process (it is frozen, and `status` checks hundreds of cases with it);
    a profile file is read every time (it may have been edited)."""
    key = str(name_or_path)
    if key in _shipped():
        return _load_shipped(key)
    return _load(name_or_path)


@functools.cache
def _load_shipped(key: str) -> Profile:
    return _load(key)


def _load(name_or_path: str | Path) -> Profile:
    from opinionkit.checks.completeness import RULES

    text: bytes
    key = str(name_or_path)
    if key in shipped():
        text = resources.files(__name__).joinpath(f"{key}.yaml").read_bytes()
        source = f"shipped:{key}"
    else:
        path = Path(name_or_path)
        if not (path.suffix in (".yaml", ".yml") or path.exists()):
            raise ProfileError(
                f"unknown profile '{yamlsafe._safe_key(key)}'",
                hint="shipped profiles: "
                + ", ".join(shipped())
                + "; or give the path of a profile file",
            )
        from opinionkit.loading import read_bytes_limited

        text = read_bytes_limited(path, yamlsafe.MAX_BYTES, "profile file")
        source = str(path)
    try:
        doc = yamlsafe.parse(text)
    except yamlsafe.YamlProblem as p:
        where = f"{source}:{p.pos.line}:{p.pos.column}" if p.pos else source
        raise ProfileError(f"{where}: {p.message}", hint=p.hint) from None
    try:
        profile = Profile.model_validate(
            {**(doc.data or {}), "source": source} if isinstance(doc.data, dict) else doc.data
        )
    except ValidationError as e:
        first = e.errors(include_input=False, include_url=False)[0]
        loc = tuple(first["loc"])
        pos = doc.position(loc)
        where = f"{source}:{pos.line}:{pos.column}" if pos else source
        raise ProfileError(
            f"{where}: {yamlsafe.path_str(loc) or 'profile'}: {first['msg']}"
            + (f" (and {e.error_count() - 1} more problems)" if e.error_count() > 1 else "")
        ) from None
    for i, req in enumerate(profile.requirements):
        rule = RULES.get(req.check)
        if rule is None:
            pos = doc.position(("requirements", i, "check"))
            where = f"{source}:{pos.line}:{pos.column}" if pos else source
            raise ProfileError(
                f"{where}: unknown check '{yamlsafe._safe_key(req.check)}'",
                hint="known checks: " + ", ".join(sorted(RULES)),
            )
        problem = rule.validate_options(req.options)
        if problem:
            pos = doc.position(("requirements", i))
            where = f"{source}:{pos.line}:{pos.column}" if pos else source
            raise ProfileError(f"{where}: requirement '{req.id}': {problem}")
    return profile

"""Jinja templates that write Typst source, and compiling that source to PDF.

Escaping is the default, not a choice a template author can forget: every value a
template prints with ``{{ ... }}`` passes through :func:`finalize`, which turns text into a
Typst *string literal* shown in markup (``#"...";``). Inside a string literal only ``\\``,
``"`` and control characters are special, so a name such as ``#set text(..)``, ``*bold*``,
``$x$``, ``@ref``, ``<label>`` or ``= heading`` prints literally and can never run as
Typst code. Numbers print as digits. Template authors use two filters for code positions:

* ``{{ value|tstr }}`` — a Typst string literal for code (``"..."``), e.g. in
  ``#set document(title: {{ title|tstr }})``;
* ``{{ value|markup }}`` — a value already written as Typst markup by opinionkit itself
  (never case data).

Undefined variables are errors (``StrictUndefined``). Every template, shipped or the
user's (``--templates DIR``), runs in Jinja's ``SandboxedEnvironment``, and Typst compiles
with opinionkit's own package folder as its root, so a template can read no case file, and package imports are refused.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import typst
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from opinionkit.errors import InputError

SHIPPED_PREFIX = "shipped"
"""``{% extends "shipped/letter.typ.j2" %}`` names a shipped template from a user's one."""

_PACKAGE_IMPORT = re.compile(r"""import\s+"@|include\s+"@""")


class Markup(str):
    """Typst markup written by opinionkit (never case data): printed as is."""


def typst_string(value: object) -> str:
    """``value`` as a Typst string literal (code mode)."""
    text = value.isoformat() if isinstance(value, date) else str(value)
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def finalize(value: Any) -> str:
    """What every ``{{ ... }}`` prints: literal text, safe in Typst markup."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime):
        value = value.date()
    return "#" + typst_string(value) + ";"


def _tstr(value: Any) -> Markup:
    if isinstance(value, Enum):
        value = value.value
    return Markup(typst_string("" if value is None else value))


def _markup(value: Any) -> Markup:
    return Markup(str(value))


def _dmy(value: date | None) -> str:
    """2026-03-04 -> '4 March 2026' (unambiguous across countries)."""
    if value is None:
        return ""
    return f"{value.day} {value:%B} {value.year}"


def shipped_templates() -> Path:
    """The shipped template folder: inside the installed package, or the checkout's."""
    packaged = resources.files("opinionkit") / "templates"
    candidate = Path(str(packaged))
    if candidate.is_dir() and any(candidate.glob("*.j2")):
        return candidate
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if checkout.is_dir():
        return checkout
    raise InputError(
        "the shipped templates are missing from this installation", hint="reinstall opinionkit"
    )


class _GuardedLoader(jinja2.BaseLoader):
    """Loads templates and refuses Typst package imports (they would need the network)."""

    def __init__(self, inner: jinja2.BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Any]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if _PACKAGE_IMPORT.search(source):
            raise InputError(
                f"template {template}: Typst package imports are not allowed",
                hint="templates must be self-contained (no network at run time)",
            )
        return source, filename, uptodate


@functools.lru_cache(maxsize=8)
def environment(templates_dir: Path | None = None, text: bool = False) -> jinja2.Environment:
    shipped = shipped_templates()
    loaders: list[jinja2.BaseLoader] = [
        jinja2.PrefixLoader({SHIPPED_PREFIX: jinja2.FileSystemLoader(str(shipped))})
    ]
    if templates_dir is not None:
        if not templates_dir.is_dir():
            raise InputError(f"{templates_dir}: --templates must name a folder of templates")
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.FileSystemLoader(str(shipped)))
    env = SandboxedEnvironment(
        loader=_GuardedLoader(jinja2.ChoiceLoader(loaders)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=None if text else finalize,
    )
    env.filters["tstr"] = _tstr
    env.filters["markup"] = _markup
    env.filters["dmy"] = _dmy
    return env


def render_template(
    name: str, context: Mapping[str, Any], templates_dir: Path | None = None, *, text: bool = False
) -> str:
    """Render one template; every template problem becomes an :class:`InputError`."""
    env = environment(templates_dir, text)
    try:
        return env.get_template(name).render(**context)
    except InputError:
        raise
    except jinja2.TemplateSyntaxError as e:
        raise InputError(f"template {e.name or name}, line {e.lineno}: {e.message}") from None
    except jinja2.UndefinedError as e:
        raise InputError(
            f"template {name}: {e.message}",
            hint="check the variable names against the shipped templates",
        ) from None
    except jinja2.TemplateNotFound as e:
        raise InputError(f"template {e.name} not found") from None
    except SecurityError as e:
        raise InputError(f"template {name}: not allowed in a template ({e})") from None
    except Exception as e:
        raise InputError(f"template {name}: {type(e).__name__} while rendering") from None


@functools.lru_cache(maxsize=1)
def _compiler() -> Any:
    return typst.Compiler()


_ROOT = str(Path(__file__).resolve().parent)
"""Typst's root: this package folder (program code only), so a template can read no case
data and nothing outside it; no temporary folder to clean up."""


def compile_pdf(source: str, name: str, when: date) -> bytes:
    """Compile Typst source to PDF with no file access (an empty root folder)."""
    stamp = datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pdf = _compiler().compile(
                input=source.encode("utf-8"),
                format="pdf",
                root=_ROOT,
                timestamp=int(stamp),
                pdf_tags=False,
            )
    except typst.TypstError as e:
        raise InputError(
            f"template {name}: Typst could not lay it out: {e.message}",
            hint="check the template's Typst code",
        ) from None
    assert isinstance(pdf, bytes)
    return pdf

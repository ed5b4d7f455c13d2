"""Jinja templates that write Typst source, and compiling that source to PDF.

Escaping is the default, not a choice a template author can forget: every value a
template prints with ``{{ ... }}`` passes through :func:`finalize`, which turns text into a
Typst *string literal* shown in markup (``#"...";``). Inside a string literal only ``\\``,
``"`` and control characters are special, and :func:`typst_string` escapes them, so a name
such as ``#set text(..)``, ``*bold*``, ``$x$``, ``@ref``, ``<label>``, ``// comment`` or
``= heading`` prints literally and can never run as Typst code. Numbers print as digits.
Template authors use two filters for other positions:

* ``{{ value|tstr }}`` — a Typst string literal for code (``"..."``), e.g. in
  ``#set document(title: {{ title|tstr }})``;
* ``{{ value|markup }}`` — a value already written as Typst markup by opinionkit itself
  (never case data).

Undefined variables are errors (``StrictUndefined``), reported as :class:`InputError`
naming the template and line. Every template, shipped or the user's (``--templates DIR``),
runs in Jinja's ``ImmutableSandboxedEnvironment``: no access to Python internals, no
mutation of what the template is given. Typst compiles with its root set to a fresh
temporary folder that holds only the source itself, so a template can read no file (no
case file, no record, nothing else on the machine); Typst package imports are refused
(they would need the network).

Fonts (:mod:`opinionkit.render.fonts`): Typst sees the shipped fonts only, never a system
font, so a document is byte-identical on every machine. Templates get ``font_stack`` (the
Typst array of the case's fonts: Latin first, then the case's Noto Sans CJK face) for
``#set text(font: ...)``; a printed value with kana or hangul is set in the Japanese or
Korean face (:func:`finalize`), Han-only text in the case's face.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import markupsafe
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from opinionkit.errors import InputError
from opinionkit.render import fonts

__all__ = [
    "SHIPPED_PREFIX",
    "Markup",
    "compile_pdf",
    "environment",
    "finalize",
    "font_stack",
    "plain_number",
    "render_template",
    "shipped_templates",
    "typst_string",
]

SHIPPED_PREFIX = "shipped"
"""``{% extends "shipped/letter.typ.j2" %}`` names a shipped template from a user's one."""

_PACKAGE_IMPORT = re.compile(r"""(import|include)\s*\(?\s*"@|"@(preview|local)/""")


class Markup(str):
    """Typst markup written by opinionkit (never case data): printed as is."""

    __slots__ = ()


def font_stack(case: Any | None = None) -> Markup:
    """``font_stack`` as templates get it: the Typst array of the fonts a document is set
    in (the case's CJK face; SC without a case)."""
    face = fonts.case_face(case) if case is not None else fonts.DEFAULT_FACE
    return Markup(fonts.typst_fonts(fonts.stack(face)))


def _text(value: object) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def typst_string(value: object) -> str:
    """``value`` as a Typst string literal (code mode): ``"..."`` with ``\\``, ``"`` and
    every control character escaped. Lone surrogates (not encodable) become U+FFFD."""
    out = ['"']
    for ch in _text(value).replace("\r\n", "\n").replace("\r", "\n"):
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append(" ")
        elif code < 32 or 127 <= code < 160 or code in (0x2028, 0x2029):
            out.append(f"\\u{{{code:x}}}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\u{fffd}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def finalize(value: Any) -> str:
    """What every ``{{ ... }}`` prints in a Typst template: literal text, safe in markup.

    Returns :class:`markupsafe.Markup`, so that Jinja's autoescaping (on for Typst
    templates) leaves it alone: autoescaping is on only so that ``{{ super() }}`` and
    ``{% set %}`` blocks -- Typst the templates wrote themselves -- come back as Markup
    and print as markup, not as text."""
    return markupsafe.Markup(_finalized(value))


def _finalized(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Markup | markupsafe.Markup):
        return str(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    text = plain_number(value) if isinstance(value, Decimal) else _text(value)
    if not text:
        return ""
    literal = "#" + typst_string(text) + ";"
    face = fonts.script_face(text)
    if face is None:
        return literal
    # Kana or hangul: this text's own CJK face, whatever the document's is.
    return f"#text(font: {fonts.typst_fonts(fonts.stack(face))})[{literal}];"


def _text_finalize(value: Any) -> str:
    """What every ``{{ ... }}`` prints in a plain-text template."""
    if value is None:
        return ""
    text = plain_number(value) if isinstance(value, Decimal) else _text(value)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


def _tstr(value: Any) -> Markup:
    return Markup(typst_string("" if value is None else value))


def _markup(value: Any) -> Markup:
    return Markup(str(value))


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _dmy(value: date | None) -> str:
    """2026-03-04 -> '4 March 2026' (unambiguous across countries, not locale-dependent)."""
    if value is None:
        return ""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def plain_number(value: Any) -> str:
    """A quantity as a person writes it, never in scientific notation: 2400000 ->
    "2,400,000", 0.000075 -> "0.000075", 2.50 -> "2.50" (the digits typed are kept).
    The one place doses and fees are formatted (the ``number`` filter)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value() and value.as_tuple().exponent > 0:  # type: ignore[operator]
            value = value.quantize(Decimal(1))
        return f"{value:,f}"
    return _text(value)


def _ucfirst(value: Any) -> str:
    """Upper-case the first letter only ("mother" -> "Mother", "PhD" stays "PhD")."""
    text = "" if value is None else _text(value)
    return text[:1].upper() + text[1:]


def _andjoin(values: Any, word: str = "and") -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    items = [_text(v) for v in values if v is not None and _text(v)]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def shipped_templates() -> Path:
    """The shipped template folder: ``opinionkit/templates`` inside an installed wheel
    (pyproject's force-include), else the checkout's top-level ``templates/`` (editable)."""
    packaged = Path(str(resources.files("opinionkit") / "templates"))
    if packaged.is_dir() and any(packaged.glob("*.j2")):
        return packaged
    checkout = Path(__file__).resolve().parents[3] / "templates"
    if checkout.is_dir() and any(checkout.glob("*.j2")):
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


CACHE_DIR_ENV = "OPINIONKIT_CACHE_DIR"
"""Folder for compiled templates (default ``$XDG_CACHE_HOME/opinionkit``, i.e.
``~/.cache/opinionkit``); set it empty to compile every template on every run."""


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's compiled-template cache on disk, so a run does not recompile the shipped
    templates (about 0.35 s a process). An entry is keyed by the template's name, file,
    source checksum (Jinja's own check) and ``tag`` (the environment's settings, which
    change the generated code). Holds template code only, never case data. Any problem
    reading or writing it means a cache miss, never an error."""

    def __init__(self, folder: str, tag: str) -> None:
        super().__init__(folder)
        self._tag = tag

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        key = super().get_cache_key(name, filename)
        return hashlib.sha1(f"{self._tag}|{key}".encode()).hexdigest()

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # unreadable or corrupt entry
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(Exception):  # read-only home, full disk: just no cache
            super().dump_bytecode(bucket)


def _template_cache(tag: str) -> jinja2.BytecodeCache | None:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured == "":
        return None
    if configured:
        folder = Path(configured)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        folder = (Path(xdg) if xdg else Path.home() / ".cache") / "opinionkit"
    folder = folder / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = folder.stat()
    except (OSError, RuntimeError):  # RuntimeError: no home directory
        return None
    # The cache holds code that is run: only a folder no one else can write to.
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return _TemplateCache(str(folder), tag)


@functools.lru_cache(maxsize=8)
def environment(templates_dir: Path | None = None, text: bool = False) -> jinja2.Environment:
    """The Jinja environment: the user's folder (if any) first, then the shipped templates,
    which are also reachable as ``shipped/NAME`` so a user's template can extend them."""
    shipped = shipped_templates()
    loaders: list[jinja2.BaseLoader] = [
        jinja2.PrefixLoader({SHIPPED_PREFIX: jinja2.FileSystemLoader(str(shipped))})
    ]
    if templates_dir is not None:
        if not templates_dir.is_dir():
            raise InputError(f"{templates_dir}: --templates must name a folder of templates")
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.FileSystemLoader(str(shipped)))
    tag = f"{jinja2.__version__}|sandboxed-immutable|{'text' if text else 'typst'}|v2"
    env = ImmutableSandboxedEnvironment(
        loader=_GuardedLoader(jinja2.ChoiceLoader(loaders)),
        bytecode_cache=_template_cache(tag),
        undefined=jinja2.StrictUndefined,
        autoescape=not text,  # see finalize: every value is escaped for Typst there
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_text_finalize if text else finalize,
    )
    env.filters["tstr"] = _tstr
    env.filters["markup"] = _markup
    env.filters["dmy"] = _dmy
    env.filters["ucfirst"] = _ucfirst
    env.filters["andjoin"] = _andjoin
    # The default; a case's context gives its own (fonts.case_face).
    env.globals["font_stack"] = font_stack()
    env.filters["number"] = plain_number
    return env


def _where(error: BaseException, name: str) -> str:
    """'template X, line N' from the innermost template frame of a rendering error."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith(".j2") or frame.filename == "<template>":
            return f"template {Path(frame.filename).name}, line {frame.lineno}"
    return f"template {name}"


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
        raise InputError(
            f"template {Path(e.filename or e.name or name).name}, line {e.lineno}: {e.message}"
        ) from None
    except jinja2.UndefinedError as e:
        raise InputError(
            f"{_where(e, name)}: {e.message}",
            hint="check the variable names against the shipped templates (templates/README.md)",
        ) from None
    except jinja2.TemplateNotFound as e:
        raise InputError(f"template {e.name} not found") from None
    except SecurityError as e:
        raise InputError(f"{_where(e, name)}: not allowed in a template ({e})") from None
    except RecursionError:
        raise InputError(
            f"template {name}: it extends or includes itself",
            hint=f'extend the shipped one as "{SHIPPED_PREFIX}/{name}"',
        ) from None
    except Exception as e:
        raise InputError(f"{_where(e, name)}: {type(e).__name__} while rendering") from None


@functools.lru_cache(maxsize=1)
def _compiler() -> Any:
    """The shipped fonts only (render.fonts): the same bytes on every machine."""
    return fonts.compiler()


_LOCATION = re.compile(r":(\d+):(\d+)")


_ROOT = str(Path(__file__).resolve().parent / "typst-root")
"""Typst's root: a folder shipped empty (but for a README), so a document can read no
other file; the source itself is passed in memory, never written to disk (a killed run
leaves no patient data behind in a temporary folder)."""


def compile_pdf(source: str, name: str, when: date) -> bytes:
    """Compile Typst source to PDF with no file access; its date is ``when``."""
    stamp = int(datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp())
    compiler = _compiler()
    try:
        pdf = compiler.compile(
            input=source.encode("utf-8", "replace"),
            format="pdf",
            root=_ROOT,
            timestamp=stamp,
            pdf_tags=False,
        )
    except sys.modules["typst"].TypstError as e:
        # The diagnostic quotes the source line, which may hold case data: only its
        # position and Typst's own message are reported.
        where = _LOCATION.search(str(getattr(e, "diagnostic", "") or ""))
        at = f" (line {where.group(1)} of the Typst source it wrote)" if where else ""
        raise InputError(
            f"template {name}: Typst could not lay it out{at}: {e.message}",
            hint="check the template's Typst code",
        ) from None
    if not isinstance(pdf, bytes):  # pragma: no cover - typst-py returns bytes for PDF
        raise InputError(f"template {name}: Typst returned no PDF")
    return pdf

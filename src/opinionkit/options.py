"""The options of each job, with their defaults, written once.

The CLI builds these from its flags (its defaults are read from here), and a Python
caller builds them directly: ``check``, ``bundle``, ``export`` and ``request`` see the same
values either way. Nothing here reads files or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from opinionkit.inspect.limits import Limits

__all__ = [
    "DEFAULT_MAX_FILE_MB",
    "DEFAULT_PASSWORD_ENV",
    "BundleOptions",
    "CheckOptions",
    "CompareOptions",
    "ExportOptions",
    "Limits",
    "RequestOptions",
    "StatusOptions",
    "template_limits",
]

DEFAULT_MAX_FILE_MB = 200
"""Largest record file accepted (MB); ``--max-file-mb``."""

DEFAULT_PASSWORD_ENV = "OPINIONKIT_PASSWORD"
"""Where ``bundle --encrypt`` finds the packet's password unless told otherwise."""


def template_limits() -> Limits:
    """Bounds for rendering a user's templates (``--templates``): a fresh interpreter
    compiles them, which needs more room than reading one record file."""
    return Limits(seconds=60.0, memory_mb=2048)


@dataclass(frozen=True)
class CheckOptions:
    profile: str | Path | None = None
    """Overrides the case file's ``profile:``; a shipped name or a profile file."""
    today: date | None = None
    """The date to judge 'in the future' against (default: today)."""
    limits: Limits = field(default_factory=Limits)
    """Time and memory allowed to read one record file (``--timeout``, ``--memory-mb``)."""
    max_file_mb: int = DEFAULT_MAX_FILE_MB
    files: bool = True
    """Inspect record files (set False to check the case file alone)."""
    strict: bool = False
    """Warnings fail too (exit code 1)."""
    ocr: str = "auto"
    """Read scanned pages with OCR (``--ocr``): "auto" (when the OCR extra is
    installed), "on" (the extra must be installed: else exit 2), "off"."""
    ocr_lines: bool = False
    """Keep the lines OCR reads, for the packet's text layer (``bundle`` sets it; cached
    verdicts hold no text, so the scans are read again)."""
    trial_write: bool = True
    """Whether the trial merge of each PDF (``pdf.unmergeable``) also writes its pages to
    nowhere, which reads every stream the packet would carry. ``bundle`` turns it off for
    its first check: its own merge reads them straight after, and when that merge fails,
    the bundle starts again with it on, so the file is reported and withheld as ``check``
    would (:func:`opinionkit.bundle.bundle_case`)."""


@dataclass(frozen=True)
class BundleOptions:
    out: Path | None = None
    """Output folder (default: ``<case_id>-packet`` in the current folder)."""
    force: bool = False
    """Replace an earlier output of opinionkit's at ``out`` (never anything else)."""
    allow_incomplete: bool = False
    templates: Path | None = None
    encrypt: bool = False
    password_env: str = DEFAULT_PASSWORD_ENV
    password_file: Path | None = None
    max_size: int | None = None
    """Split the packet into volumes of at most this many bytes (at record boundaries)."""
    bates_prefix: str | None = None
    bates_start: int = 1
    dicomdir: bool = False
    text_layer: bool = True
    """Give the packet's scanned pages an invisible text layer from OCR, when OCR ran
    (``--no-text-layer`` skips it, and with it the second reading of the scans)."""
    check: CheckOptions = field(default_factory=CheckOptions)
    """How the case is checked first; ``check.strict`` refuses a case with warnings."""
    template_limits: Limits = field(default_factory=template_limits)
    """Bounds for rendering a user's templates (``--templates``)."""
    environ: dict[str, str] | None = None
    """Where SOURCE_DATE_EPOCH and the password variable are read (default: os.environ)."""


@dataclass(frozen=True)
class RequestOptions:
    out: Path | None = None
    """Output folder (default: ``<case_id>-requests`` in the current folder)."""
    force: bool = False
    """Replace an earlier output of opinionkit's at ``out`` (never anything else)."""
    templates: Path | None = None
    when: date | None = None
    """The letters' date (default: the case's ``prepared:``, else today)."""
    check: CheckOptions = field(default_factory=CheckOptions)


@dataclass(frozen=True)
class CompareOptions:
    out: Path | None = None
    """Output folder (default: ``<case_id>-after-opinion`` beside the case file, where
    ``status`` sees it)."""
    force: bool = False
    """Replace an earlier output of opinionkit's at ``out`` (never anything else)."""
    templates: Path | None = None
    when: date | None = None
    """The documents' date (default: today)."""
    check: CheckOptions = field(default_factory=CheckOptions)
    """How the case file is checked first (its record files are not read)."""


@dataclass(frozen=True)
class StatusOptions:
    today: date | None = None
    """The day stages and ages are judged on (default: today)."""
    show_names: bool = False
    """Add the patient's name to each row (default: case ids only)."""
    profile: str | Path | None = None
    """Overrides each case file's ``profile:``."""


@dataclass(frozen=True)
class ExportOptions:
    allow_incomplete: bool = False
    """Export a case that has errors (withheld records and placeholders still never go out)."""
    manifest: Path | None = None
    """A bundle's ``manifest.json`` of this case: adds each record's pages in the packet."""
    out: Path | None = None
    """Write the export to this file (never over the case file or a record)."""
    force: bool = False
    """Replace an existing ``out`` file."""
    check: CheckOptions = field(default_factory=CheckOptions)

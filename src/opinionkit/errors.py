"""Exit codes and the exception hierarchy.

Exit codes are part of the stable user interface: scripts in records offices branch on
them. Every exception opinionkit raises on purpose derives from :class:`OpinionkitError`
and carries its exit code and a message a person can act on. Messages name files and
keys, never values from a case file.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Stable: never renumber, only add."""

    OK = 0
    """Nothing to report (warnings allowed unless ``--strict``)."""
    FINDINGS = 1
    """The case has errors (or warnings, with ``--strict``)."""
    USAGE = 2
    """The command line was wrong (unknown option, missing argument, bad value)."""
    INPUT = 3
    """An input could not be read at all: case file missing, unreadable, not YAML, a bad profile."""
    OUTPUT = 4
    """Output could not be written (exists without --force, no permission, disk full)."""
    INTERRUPTED = 130
    """Stopped by Ctrl-C; nothing partial was left behind."""
    INTERNAL = 70
    """A bug in opinionkit. Please report it (the message carries no patient data)."""


class OpinionkitError(Exception):
    """Base class of every error opinionkit raises on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        # Subclasses take other constructor arguments; rebuild from the state instead, so
        # an error can travel back from a worker process (``--jobs``).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[OpinionkitError], state: dict[str, object]) -> OpinionkitError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("message"))
    error.__dict__.update(state)
    return error


class UsageError(OpinionkitError):
    exit_code = ExitCode.USAGE


class InputError(OpinionkitError):
    """A case file, profile or template folder that cannot be read or understood."""

    exit_code = ExitCode.INPUT


class ProfileError(InputError):
    """A profile file that is missing or malformed."""


class OutputError(OpinionkitError):
    exit_code = ExitCode.OUTPUT


class OutputExistsError(OutputError):
    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} already exists",
            hint="pass --force to replace it: only opinionkit's own earlier output is ever "
            "replaced, and it stays intact until the new one is complete",
        )


class LimitExceeded(OpinionkitError):
    """A bounded operation (parsing an untrusted file, rendering a template) ran out of time or memory."""

    exit_code = ExitCode.INPUT

    def __init__(self, what: str, limit: str) -> None:
        super().__init__(f"{what} exceeded the {limit} limit")
        self.what = what
        self.limit = limit


OCR_INSTALL = "pip install 'opinionkit[ocr]'"
"""How to install the OCR extra (named in hints)."""


class OcrUnavailable(UsageError):
    """``--ocr on`` without the OCR extra installed."""

    def __init__(self) -> None:
        super().__init__(
            "--ocr on needs the OCR extra, which is not installed",
            hint=f"install it with {OCR_INSTALL}, or use --ocr auto",
        )


class OcrModelMissing(InputError):
    """An OCR model file is missing from the installed package (it is never downloaded)."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"the OCR {what} is missing from the installed package (models are never downloaded)",
            hint=f"reinstall the extra: {OCR_INSTALL} --force-reinstall",
        )

"""OCR is on by default wherever the extra is installed (CI installs it); it reads every
scan, seconds a page. Tests outside tests/test_ocr.py check what they were written for
with OCR off, in-process and in the CLI subprocesses they start."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _ocr_off_outside_ocr_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.module.__name__.endswith("test_ocr"):
        return
    import opinionkit.inspect.ocr as ocr

    monkeypatch.setattr(ocr, "available", lambda: False)
    monkeypatch.setenv("OPINIONKIT_OCR", "off")

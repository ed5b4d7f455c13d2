"""Every PDF of ../shared/corpus/pdf/ through `check`: the documented finding, no crash.

Each corpus file becomes one record of a case; the test asserts the finding that
SOURCES.txt's notes lead one to expect (a damaged file is unreadable, an encrypted one
needs its password, a portal's HTML page is the wrong type...), the exit code, and a time
bound for the whole run. Skipped when ../shared is not beside the checkout.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from conftest import CORPUS
from opinionkit.check import CheckOptions, check_case
from opinionkit.findings import Severity
from opinionkit.inspect import pdf as pdf_mod
from opinionkit.inspect.limits import Limits, run_limited
from pdfgen import case_head

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/pdf not available")

# file -> the finding code `check` must report for it (None: opens cleanly; identity
# findings aside, since no corpus file names our patient).
EXPECTED: dict[str, str | None] = {
    "gen__10000-pages.pdf": None,
    "gen__deep-nesting-100k.pdf": "pdf.unreadable",
    "gen__flate-bomb-1GiB-nested.pdf": "pdf.damaged-pages",
    "gen__html-login-page.pdf": "file.wrong-type",
    "gen__jpeg-named-as.pdf": "file.extension-mismatch",
    "gen__truncated-60pct.pdf": "pdf.unreadable",
    "pdfjs__Pages-tree-refs.pdf": "pdf.unreadable",
    "pdfjs__REDHAT-1531897-0.pdf": "pdf.unreadable",
    "pdfjs__bug_jpx.pdf": None,
    "pdfjs__helloworld-bad.pdf": "pdf.repaired",
    "pdfjs__issue6010_2.pdf": "pdf.encrypted",
    "pdfjs__poppler-85140-0.pdf": "pdf.unreadable",
    "pdfjs__rotation.pdf": None,
    "pdfjs__saslprep-r6.pdf": "pdf.encrypted",
    "pdfjs__sizes.pdf": None,
    "pdfjs__xref_command_missing.pdf": "pdf.repaired",
    "pypdf__encrypted_doc_no_id.pdf": "pdf.encrypted-open",
    "pypdf__r2-user-password.pdf": "pdf.encrypted",
    "pypdf__r3-empty-password.pdf": "pdf.encrypted-open",
    "pypdf__r4-aes-user-password.pdf": "pdf.encrypted",
    "pypdf__r6-both-passwords.pdf": "pdf.encrypted",
    "pypdf__r6-owner-password.pdf": "pdf.encrypted-open",
    "pypdf__r6-user-password.pdf": "pdf.encrypted-open",
    "qpdf__15316.fuzz": "file.wrong-type",
    "qpdf__20-pages.pdf": "pdf.encrypted",
    "qpdf__69857.fuzz": "pdf.leading-junk",
    "qpdf__70245.fuzz": "file.empty",
    "qpdf__append-xref-loop.pdf": "pdf.repaired",
    # qpdf decrypts it with the empty password (its /Length is ignored), as the packet
    # writer does; pypdf could not
    "qpdf__bad-encryption-length.pdf": "pdf.encrypted-open",
    "qpdf__bad1.pdf": "file.wrong-type",
    "qpdf__bad17.pdf": "pdf.repaired",
    # damaged cross-reference data qpdf rebuilds (so does the packet writer): the page and
    # its text are there; pypdf could not open these four
    "qpdf__bad2.pdf": "pdf.repaired",
    "qpdf__bad22.pdf": None,
    "qpdf__bad4.pdf": "pdf.repaired",
    "qpdf__bad40.pdf": "pdf.repaired",
    "qpdf__bad7.pdf": "pdf.repaired",
    "qpdf__big-ostream.pdf": None,
    "qpdf__damaged-stream.pdf": None,
    "qpdf__digitally-signed.pdf": "pdf.drops-content",
    "qpdf__empty.pdf": "pdf.no-pages",
    "qpdf__incremental-2.pdf": None,
    "qpdf__issue-147.pdf": "file.wrong-type",
    "qpdf__issue-335b.pdf": "file.wrong-type",
    "qpdf__leading-junk.pdf": "pdf.leading-junk",
    "qpdf__minimal-rotated.pdf": None,
    "qpdf__outlines-with-loop.pdf": None,
    "qpdf__pages-loop.pdf": "pdf.unreadable",
    "qpdf__short-O-U.pdf": "pdf.encrypted",
    "sf__annotated_pdf.pdf": None,
    "sf__cmyk-image.pdf": None,
    "sf__crazyones-pdfa.pdf": None,
    "sf__habibi-rotated.pdf": None,
    "sf__imagemagick-CCITTFaxDecode.pdf": None,
    "sf__libreoffice-writer-password.pdf": "pdf.encrypted",
    "sf__minimal-document.pdf": None,
    "sf__pdflatex-4-pages.pdf": None,
    "sf__pdflatex-forms.pdf": "pdf.drops-content",
    "sf__pdflatex-outline.pdf": None,
    "sf__unreadablemetadata.pdf": "pdf.unreadable",
    "sf__with-attachment.pdf": "pdf.drops-content",
}

# Passwords from SOURCES.txt: with them, each encrypted file opens.
PASSWORDS = {
    "sf__libreoffice-writer-password.pdf": "openpassword",
    "pypdf__r2-user-password.pdf": "asdfzxcv",
    "pypdf__r4-aes-user-password.pdf": "asdfzxcv",
    "pypdf__r6-both-passwords.pdf": "foo",
    "qpdf__20-pages.pdf": "user",
    "qpdf__short-O-U.pdf": "19723102477",
    "pdfjs__saslprep-r6.pdf": "S\u00aaSL\u00adprep",
}

IDENTITY = {"identity.not-found", "identity.not-verifiable", "identity.partial"}
CASE_HEAD = case_head("CORPUS-1", "Ada Testperson")


def _case(tmp: Path, names: list[str], passwords: dict[str, str] | None = None) -> Path:
    (tmp / "records").mkdir()
    lines = [CASE_HEAD]
    for i, name in enumerate(names):
        shutil.copyfile(CORPUS / name, tmp / "records" / name)
        lines.append(f"  - {{kind: lab-report, title: Record {i}, file: records/{name}")
        if passwords and name in passwords:
            lines.append(f", password_env: CORPUS_PW_{i}")
        lines.append("}\n")
    path = tmp / "case.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _by_record(result: object, names: list[str]) -> dict[str, set[str]]:
    codes: dict[str, set[str]] = {n: set() for n in names}
    for f in result.findings:  # type: ignore[attr-defined]
        if f.key and f.key.startswith("records["):
            index = int(f.key[len("records[") :].split("]")[0])
            codes[names[index]].add(f.code)
    return codes


def test_corpus_is_complete() -> None:
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "SOURCES.txt"}
    assert on_disk == set(EXPECTED)


def test_every_corpus_file_gets_its_finding(tmp_path: Path) -> None:
    names = sorted(EXPECTED)
    case = _case(tmp_path, names)
    started = time.monotonic()
    result = check_case(case, CheckOptions(today=date(2026, 11, 24)))
    elapsed = time.monotonic() - started
    codes = _by_record(result, names)
    wrong = {}
    for name, want in EXPECTED.items():
        got = codes[name] - IDENTITY
        if (
            want is None
            and any(
                f.severity is Severity.ERROR
                for f in result.findings
                if f.path == f"records/{name}" and f.code not in IDENTITY
            )
        ) or (want is not None and want not in got):
            wrong[name] = (want, sorted(got))
    assert not wrong, wrong
    assert int(result.exit_code()) == 1
    # 60 files, hostile ones included, each bounded to 30 s: the whole run must stay far
    # below that (generous bound; typical is a few seconds).
    assert elapsed < 120


def test_passwords_from_environment_open_encrypted_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = sorted(PASSWORDS)
    case = _case(tmp_path, names, PASSWORDS)
    for i, name in enumerate(names):
        monkeypatch.setenv(f"CORPUS_PW_{i}", PASSWORDS[name])
    result = check_case(case, CheckOptions(today=date(2026, 11, 24)))
    codes = _by_record(result, names)
    for name in names:
        assert not codes[name] & {"pdf.encrypted", "pdf.wrong-password", "pdf.unreadable"}, (
            name,
            codes[name],
        )
    pages = {names[r.index]: r.pages for r in result.records}
    assert pages["qpdf__20-pages.pdf"] == 20  # decrypted with 'user'


def test_wrong_password_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "pypdf__r4-aes-user-password.pdf"
    case = _case(tmp_path, [name], {name: "x"})
    monkeypatch.setenv("CORPUS_PW_0", "not-the-password")
    result = check_case(case, CheckOptions(today=date(2026, 11, 24)))
    assert "pdf.wrong-password" in {f.code for f in result.findings}


def test_cli_on_whole_corpus_prints_no_traceback(tmp_path: Path) -> None:
    case = _case(tmp_path, sorted(EXPECTED))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "opinionkit",
            "check",
            str(case),
            "--format",
            "json",
            "--today",
            "2026-11-24",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["cases"][0]["counts"]["error"] >= 24


def test_the_flate_bomb_is_a_bad_page_within_a_small_memory_cap() -> None:
    # 2.3 KB that decode to 1 GiB: qpdf has no limit of its own by default; the page is
    # judged by the streaming decoder, which holds a chunk at a time and stops at its limit
    path = str(CORPUS / "gen__flate-bomb-1GiB-nested.pdf")
    limits = Limits(seconds=30, memory_mb=128)
    info = run_limited(pdf_mod._inspect, path, None, 30.0, limits=limits)
    assert info.opened and info.pages == 1 and info.bad_pages == [1] and info.page_texts == [""]


def test_a_page_tree_qpdf_drops_is_no_empty_file() -> None:
    # qpdf opens it with 0 pages and warnings (it ignores the page tree nested too deep)
    info = pdf_mod._inspect(str(CORPUS / "gen__deep-nesting-100k.pdf"), None, 30.0)
    assert not info.opened and info.error and not info.pages


def test_pdfium_reads_what_qpdf_repairs() -> None:
    path = str(CORPUS / "qpdf__bad7.pdf")  # PDFium cannot open it; qpdf rebuilds it
    assert pdf_mod._open_pdfium(path, None, False, 1) is None
    info = pdf_mod._inspect(path, None, 30.0)
    assert info.opened and info.repaired and not info.bad_pages
    assert [t.strip() for t in info.page_texts] == ["Potato"]


@pytest.mark.parametrize(
    ("name", "encryption"),
    [
        ("pypdf__r2-user-password.pdf", "RC4-40 (R2)"),
        ("qpdf__20-pages.pdf", "RC4-128 (R3)"),
        ("pypdf__r4-aes-user-password.pdf", "AES-128 (R4)"),
        ("pypdf__r6-both-passwords.pdf", "AES-256 (R6)"),
        ("pdfjs__saslprep-r6.pdf", "AES-256 (R6)"),  # opens once its password is SASLprepped
    ],
)
def test_a_locked_file_is_named_and_opens_with_its_password(name: str, encryption: str) -> None:
    path = str(CORPUS / name)
    locked = pdf_mod._inspect(path, None, 30.0)
    assert (locked.encrypted, locked.needs_password, locked.password_ok) == (True, True, False)
    assert not locked.opened and locked.encryption == encryption
    assert not pdf_mod._inspect(path, "not-the-password", 30.0).password_ok
    info = pdf_mod._inspect(path, PASSWORDS[name], 30.0)
    assert (info.encrypted, info.needs_password, info.password_ok) == (True, True, True)
    assert info.opened and info.encryption == encryption
    assert info.text_pages == info.pages and not info.bad_pages


def test_library_warnings_reach_no_log_and_no_terminal(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    names = [
        "pdfjs__helloworld-bad.pdf",  # repaired by qpdf
        "gen__deep-nesting-100k.pdf",  # qpdf warns, then pypdf gets a try
        "qpdf__69857.fuzz",  # only pypdf opens it, with hundreds of warnings
        "qpdf__bad7.pdf",
    ]
    with caplog.at_level(logging.DEBUG):
        infos = [pdf_mod._inspect(str(CORPUS / name), None, 30.0) for name in names]
    assert [i.repaired for i in infos] == [True, False, True, True]
    assert not caplog.records
    assert capfd.readouterr() == ("", "")

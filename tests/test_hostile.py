"""Hostile and broken input: nothing hangs, nothing leaks, nothing is lost.

Each test builds its own bad inputs (the shared corpus is used where present). The
fixture patient has a distinctive name, date of birth and MRN so that any leak of a case
value into a message, a JSON document or a file name is caught.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader, PdfWriter
from typer.testing import CliRunner

from conftest import CORPUS, ENV, ROOT, TODAY, run_cli
from opinionkit.bundle import BundleOptions, BundleRefused, bundle_case
from opinionkit.check import CheckOptions, check_case
from opinionkit.cli import app
from opinionkit.errors import InputError, LimitExceeded, OutputError
from opinionkit.inspect.limits import Limits

NAME, DOB, MRN = "Quillon Vexmarrow", "1931-07-29", "QX-558201"
SECRETS = ["Quillon", "Vexmarrow", "QX-558201", "558201", "1931-07-29", "29/07/1931", "19310729"]


def report_pdf(
    path: Path, name: str = NAME, dob: str = DOB, mrn: str = MRN, pages: int = 1
) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from pdfgen import report, write_text_pdf

    body = report(name, dob, mrn, "SURGICAL PATHOLOGY REPORT")
    write_text_pdf(path, body * pages)


def make_case(folder: Path, records: list[dict[str, Any]] | None = None, **extra: str) -> Path:
    """A complete adult-general case for the fixture patient, with its record files."""
    (folder / "records").mkdir(parents=True, exist_ok=True)
    report_pdf(folder / "records" / "pathology.pdf")
    report_pdf(folder / "records" / "ct.pdf")
    recs = [
        {
            "kind": "pathology-report",
            "title": "Pathology",
            "date": "2026-06-02",
            "file": "records/pathology.pdf",
        },
        {"kind": "imaging-report", "title": "CT", "date": "2026-10-30", "file": "records/ct.pdf"},
        *(records or []),
    ]
    lines = [
        "schema_version: 1",
        f"case_id: {extra.get('case_id', 'HOST-001')}",
        "profile: adult-general",
        "prepared: 2026-11-20",
        "patient:",
        f"  name: {NAME}",
        f"  date_of_birth: {DOB}",
        "  phone: 555-0100",
        f"  mrns: [{{institution: Riverbend, mrn: {MRN}}}]",
        "care_team:",
        "  treating_oncologist: {name: Dr. Omar Fictus, phone: 555-0101}",
        "request: {primary_question: 'Is surgery an option?'}",
        "diagnosis:",
        "  cancer_type: Lung adenocarcinoma",
        "  date: 2026-06-02",
        "  symptoms: [{description: cough, onset: 2026-04-01}]",
        "treatment: {plan: Chemotherapy}",
        "medications: none",
        "allergies: none",
        "records:",
    ]
    for r in recs:
        lines.append("  - " + json.dumps(r))
    path = folder / "case.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"patient value {secret!r} leaked into output"


cli = run_cli  # a fresh interpreter, as a user runs it


# ------------------------------------------------------------------ 1. corpus through bundle


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/pdf not available")
def test_every_corpus_pdf_through_bundle_is_enclosed_or_named(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_corpus import PASSWORDS, _case

    names = sorted(p.name for p in CORPUS.iterdir() if p.name != "SOURCES.txt")
    case = _case(tmp_path, names, PASSWORDS)
    env = {f"CORPUS_PW_{i}": PASSWORDS[n] for i, n in enumerate(names) if n in PASSWORDS}
    started = time.monotonic()
    proc = cli(
        "bundle",
        str(case),
        "--out",
        str(tmp_path / "out"),
        "--allow-incomplete",
        "--today",
        "2026-11-24",
        "--format",
        "json",
        env=env,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == ""  # no library warning reaches the terminal
    assert elapsed < 180
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    enclosed = {Path(i["path"]).name for i in manifest["inputs"]}
    missing = " ".join(manifest["missing"])
    for name in names:  # every file is either in the packet or named as a problem
        assert name in enclosed or name in missing, name
    # nothing silently short: the packet has exactly the pages of what it encloses
    pages = len(PdfReader(tmp_path / "out" / "CORPUS-1-packet.pdf").pages)
    front = manifest["front_matter"][-1]["pages"][1]
    assert pages == front + sum(i["pages"][1] - i["pages"][0] + 1 for i in manifest["inputs"])
    assert "gen__10000-pages.pdf" in enclosed  # 10 000 pages stamped and enclosed
    assert "sf__libreoffice-writer-password.pdf" in enclosed  # decrypted with its password
    notes = " ".join(json.loads(proc.stdout)["cases"][0]["notes"])
    assert "embedded files" in notes and "digital signature" in notes  # what the merge drops


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus/pdf not available")
def test_an_unmergeable_record_refuses_the_bundle_by_name(tmp_path: Path) -> None:
    shutil.copyfile(CORPUS / "qpdf__69857.fuzz", tmp_path / "fuzz.pdf")
    case = make_case(
        tmp_path / "c", [{"kind": "lab-report", "title": "Labs", "file": "../fuzz.pdf"}]
    )
    (tmp_path / "c" / "records" / "fuzz.pdf").write_bytes((tmp_path / "fuzz.pdf").read_bytes())
    case.write_text(case.read_text().replace("../fuzz.pdf", "records/fuzz.pdf"))
    with pytest.raises(BundleRefused) as info:
        bundle_case(case, BundleOptions(out=tmp_path / "o", check=CheckOptions(today=TODAY)))
    codes = {f.code for f in info.value.case.findings.errors}
    assert "pdf.unmergeable" in codes
    assert not (tmp_path / "o").exists()


def test_bundle_trial_merges_without_writing_and_a_failed_merge_is_judged_as_check_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bundle's own check opens each PDF for its trial merge but writes nothing (the
    packet's merge reads every stream straight after); check alone writes the trial. When
    the packet's merge then fails on a file, the bundle starts again with the written
    trial: the file is refused (or, with allow_incomplete, withheld) by name, as a check
    first would have, and nothing is left behind. Inspections run in-process here
    (Limits(enabled=False)) so that the stand-ins below are seen by the trial."""
    import importlib

    import opinionkit.bundle as bundle_mod

    assemble_mod = importlib.import_module("opinionkit.pdf.assemble")  # (the package
    # re-exports a function of the module's name)
    case = make_case(tmp_path / "c")
    trials: list[tuple[str, bool]] = []
    real_problem = assemble_mod.merge_problem

    def problem(path: Path, password: str | None = None, *, write: bool = True) -> str | None:
        trials.append((path.name, write))
        if path.name == "ct.pdf" and write:  # what only a written trial would meet
            return "damaged PDF (stand-in)"
        return real_problem(path, password, write=write)

    real_assemble = bundle_mod.assemble

    def assemble(parts: Any, **kw: Any) -> Any:
        if any(Path(str(p.source)).name == "ct.pdf" for p in parts):
            raise InputError("ct.pdf: damaged PDF (stand-in)")
        return real_assemble(parts, **kw)

    monkeypatch.setattr(assemble_mod, "merge_problem", problem)
    monkeypatch.setattr(bundle_mod, "assemble", assemble)
    check = CheckOptions(today=TODAY, limits=Limits(enabled=False))

    check_case(case, check)
    assert sorted(trials) == [("ct.pdf", True), ("pathology.pdf", True)]  # check writes

    trials.clear()
    with pytest.raises(BundleRefused) as info:
        bundle_case(case, BundleOptions(out=tmp_path / "o", check=check))
    # first without writing; the merge fails; again with the written trial, which finds it
    assert sorted(trials[:2]) == [("ct.pdf", False), ("pathology.pdf", False)]
    assert sorted(trials[2:]) == [("ct.pdf", True), ("pathology.pdf", True)]
    unmergeable = [f for f in info.value.case.findings.errors if f.code == "pdf.unmergeable"]
    assert [f.path for f in unmergeable] == ["records/ct.pdf"]
    assert not (tmp_path / "o").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o")] == []

    result = bundle_case(
        case, BundleOptions(out=tmp_path / "o", check=check, allow_incomplete=True)
    )
    assert [(w.path, w.code) for w in result.withheld] == [("records/ct.pdf", "pdf.unmergeable")]
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert [Path(i["path"]).name for i in manifest["inputs"]] == ["pathology.pdf"]

    # a case whose merge succeeds is never checked twice
    trials.clear()
    monkeypatch.setattr(bundle_mod, "assemble", real_assemble)
    (tmp_path / "c" / "records" / "ct.pdf").unlink()
    report_pdf(tmp_path / "c" / "records" / "ct.pdf", pages=2)
    monkeypatch.setattr(assemble_mod, "merge_problem", real_problem)
    counted: list[bool] = []
    monkeypatch.setattr(
        assemble_mod,
        "merge_problem",
        lambda path, password=None, *, write=True: (
            counted.append(write) or real_problem(path, password, write=write)
        ),
    )
    done = bundle_case(case, BundleOptions(out=tmp_path / "o2", check=check))
    assert done.withheld == [] and counted == [False, False]


# ------------------------------------------------------------------ 2. limits


def test_a_record_that_exhausts_the_time_limit_is_a_named_finding(tmp_path: Path) -> None:
    # 6 000 pages of text: reading them all takes longer than a 1-second limit.
    big = tmp_path / "c" / "records" / "big.pdf"
    case = make_case(
        tmp_path / "c", [{"kind": "lab-report", "title": "Big", "file": "records/big.pdf"}]
    )
    report_pdf(big, pages=6000)
    started = time.monotonic()
    result = check_case(case, CheckOptions(today=TODAY, limits=Limits(seconds=1, memory_mb=1024)))
    assert time.monotonic() - started < 20
    found = {f.code: f.message for f in result.findings if f.path == "records/big.pdf"}
    # either the whole file hit the limit, or its text was read only partly: both say so
    assert ("pdf.limit" in found and "1 s" in found["pdf.limit"]) or "identity.partial" in found


def test_template_limits_are_configurable_and_named(tmp_path: Path) -> None:
    case = make_case(tmp_path / "c")
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "summary.typ.j2").write_text(
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}\n"
    )
    started = time.monotonic()
    proc = cli(
        "bundle",
        str(case),
        "--out",
        str(tmp_path / "o"),
        "--templates",
        str(tpl),
        "--template-timeout",
        "3",
        "--today",
        "2026-11-24",
    )
    assert time.monotonic() - started < 40
    assert proc.returncode == 3
    assert "3 s time limit" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "tpl"]


def test_a_template_reaching_for_python_internals_is_stopped(tmp_path: Path) -> None:
    case = make_case(tmp_path / "c")
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "letter.typ.j2").write_text(
        "{{ case.__class__.__init__.__globals__['os'].system('touch pwned') }}\n"
    )
    proc = cli(
        "bundle",
        str(case),
        "--out",
        str(tmp_path / "o"),
        "--templates",
        str(tpl),
        "--today",
        "2026-11-24",
    )
    assert proc.returncode == 3, proc.stderr
    assert "letter.typ.j2" in proc.stderr
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert_no_leak(proc.stdout, proc.stderr)


# ------------------------------------------------------------------ 3. case files under attack

BAD_YAML = [
    b"a: &x [1]\nb: *x\n",  # alias
    b"lol: &a [x, x]\nl2: &b [*a, *a]\nl3: [*b, *b, *b]\n",  # billion laughs
    b"patient: !!python/object:os.system [echo]\n",  # tag
    b"case_id: A\n---\ncase_id: B\n",  # two documents
    b"case_id: A\ncase_id: B\n",  # duplicate key
    b"a:" + b" [" * 200 + b"]" * 200 + b"\n",  # deep nesting
    b"case_id: " + b"x" * 200_000 + b"\n",  # huge scalar
    b"\xff\xfe\x00c\x00a\x00s\x00e",  # not UTF-8
    b"case_id: A\x00\n",  # NUL
    b"? [a, b]\n: c\n",  # complex key
    b"\t- tab\n",  # tabs
    b"- just\n- a\n- list\n",  # not a mapping
    b"",  # empty
]


@pytest.mark.parametrize("data", BAD_YAML, ids=range(len(BAD_YAML)))
def test_hostile_case_files_end_in_findings(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(data)
    result = check_case(path, CheckOptions(today=TODAY))
    assert result.findings.errors
    assert int(result.exit_code()) in (1, 3)


def _mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    for pos, cut, insert in edits:
        pos %= max(1, len(text))
        text = text[:pos] + insert + text[pos + cut :]
    return text


FUZZ_CASE = Path(__file__).parent / "cases" / "base" / "case.yaml"
TOKENS = [
    "\n",
    ": ",
    "- ",
    "  ",
    "&a",
    "*a",
    "!!str",
    "---",
    "[",
    "]",
    "{",
    "}",
    "'",
    '"',
    "#",
    "\t",
    "~",
    "null",
    "2026-13-45",
    "99999999999999999999",
    "\\u0000",
    "../",
    "/etc/passwd",
    "records",
    "file",
    "kind",
    "patient",
    "-1",
    "1e400",
    "é",
    "\x85",
    "\u2028",
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5000), st.integers(0, 40), st.sampled_from(TOKENS) | st.text(max_size=8)
        ),
        max_size=6,
    )
)
def test_thousands_of_mutated_case_files_never_crash(edits: list[tuple[int, int, str]]) -> None:
    """Each run ends in findings or success: any unhandled exception fails the test."""
    folder = FUZZ_CASE.parent
    text = _mutate(FUZZ_CASE.read_text(), edits)
    target = folder / f".fuzz-{os.getpid()}.yaml"
    try:
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
        check_case(target, CheckOptions(today=TODAY, files=False))
    except UnicodeEncodeError:
        pass
    finally:
        target.unlink(missing_ok=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_as_a_case_file_never_crash(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fz") / "case.yaml"
    path.write_bytes(data)
    result = check_case(path, CheckOptions(today=TODAY))
    assert int(result.exit_code()) in (0, 1, 3)


# ------------------------------------------------------------------ 4. paths


def _opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *a: Any, **k: Any) -> int:
        seen.append(os.fspath(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", spy)
    import builtins

    real_builtin = builtins.open

    def spy_builtin(file: Any, *a: Any, **k: Any) -> Any:
        if isinstance(file, str | Path):
            seen.append(os.fspath(file))
        return real_builtin(file, *a, **k)

    monkeypatch.setattr(builtins, "open", spy_builtin)
    return seen


def test_path_attacks_are_findings_and_never_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = tmp_path / "outside.pdf"
    report_pdf(outside)
    folder = tmp_path / "c"
    case = make_case(
        folder,
        [
            {"kind": "lab-report", "title": "Up", "file": "../outside.pdf"},
            {"kind": "lab-report", "title": "Abs", "file": str(outside)},
            {"kind": "lab-report", "title": "Link", "file": "records/link.pdf"},
            {"kind": "lab-report", "title": "Fifo", "file": "records/fifo.pdf"},
            {"kind": "lab-report", "title": "Dir", "file": "records/dir.pdf"},
            {"kind": "lab-report", "title": "Dev", "file": "records/zero.pdf"},
            {"kind": "imaging-study", "title": "CD", "folder": "records/cd"},
        ],
    )
    (folder / "records" / "link.pdf").symlink_to(outside)
    os.mkfifo(folder / "records" / "fifo.pdf")
    (folder / "records" / "dir.pdf").mkdir()
    (folder / "records" / "zero.pdf").symlink_to("/dev/zero")
    (folder / "records" / "cd").mkdir()
    (folder / "records" / "cd" / "IM1").symlink_to(outside)  # a link inside a DICOM folder
    os.mkfifo(folder / "records" / "cd" / "IM2")
    seen = _opened(monkeypatch)
    started = time.monotonic()
    result = check_case(case, CheckOptions(today=TODAY))
    assert time.monotonic() - started < 30  # a FIFO opened for reading would block forever
    by_path = {f.path: f.code for f in result.findings if f.path}
    assert by_path["../outside.pdf"] == "file.outside-case"
    assert by_path[str(outside)] == "file.absolute-path"
    assert by_path["records/link.pdf"] == "file.outside-case"
    assert by_path["records/fifo.pdf"] == "file.not-regular"
    assert by_path["records/dir.pdf"] == "file.is-folder"
    assert by_path["records/zero.pdf"] == "file.outside-case"
    assert by_path["records/cd"] == "dicom.empty"
    for bad in ("fifo.pdf", "zero.pdf", "link.pdf", "outside.pdf", "IM1", "IM2"):
        assert not any(p.endswith(bad) for p in seen), bad


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_a_finding(tmp_path: Path) -> None:
    case = make_case(
        tmp_path / "c", [{"kind": "lab-report", "title": "L", "file": "records/l.pdf"}]
    )
    report_pdf(tmp_path / "c" / "records" / "l.pdf")
    os.chmod(tmp_path / "c" / "records" / "l.pdf", 0)
    result = check_case(case, CheckOptions(today=TODAY))
    assert "file.unreadable" in {f.code for f in result.findings}


# ------------------------------------------------------------------ 6. faults while writing


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_disk_full_keeps_the_earlier_packet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = make_case(tmp_path / "c")
    out = tmp_path / "o"
    opts = BundleOptions(out=out, force=True, check=CheckOptions(today=TODAY), environ=dict(ENV))
    bundle_case(case, opts)
    before = _snapshot(out)
    import opinionkit.bundle as b

    real = b.assemble

    def full(*a: Any, **k: Any) -> Any:
        real(*a, **k)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(b, "assemble", full)
    with pytest.raises(OSError):
        bundle_case(case, opts)
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "o"]


def test_a_read_only_output_folder_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = make_case(tmp_path / "c")
    import tempfile

    def denied(*a: Any, **k: Any) -> str:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)
    with pytest.raises(OutputError) as info:
        bundle_case(case, BundleOptions(out=tmp_path / "o", check=CheckOptions(today=TODAY)))
    assert info.value.exit_code == 4
    assert_no_leak(info.value.message)


def _slow_case(folder: Path) -> Path:
    """A case whose bundle takes a few seconds: 3 000 pages to stamp."""
    case = make_case(folder, [{"kind": "lab-report", "title": "Long", "file": "records/long.pdf"}])
    writer = PdfWriter()
    for _ in range(3000):
        writer.add_blank_page(612, 792)
    with open(folder / "records" / "long.pdf", "wb") as fh:
        writer.write(fh)
    return case


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_bundle_leaves_the_earlier_packet_and_no_temporary_files(
    tmp_path: Path, sig: signal.Signals
) -> None:
    case = _slow_case(tmp_path / "c")
    out = tmp_path / "o"
    first = cli("bundle", str(case), "--out", str(out), "--today", "2026-11-24")
    assert first.returncode == 0, first.stderr
    before = _snapshot(out)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "opinionkit",
            "bundle",
            str(case),
            "--out",
            str(out),
            "--force",
            "--today",
            "2026-11-24",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    # wait until the run has started writing (its temporary folder exists), then interrupt
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.name.startswith(".o.tmp-") for p in tmp_path.iterdir()
    ):
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert "Traceback" not in stderr
    assert _snapshot(out) == before
    if sig == signal.SIGKILL:
        # a killed process cannot clean up: the next run removes what it left
        again = cli("bundle", str(case), "--out", str(out), "--force", "--today", "2026-11-24")
        assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "o"]


# ------------------------------------------------------------------ 7. no patient data leaks


def test_no_failure_message_json_or_file_name_contains_patient_data(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    other = folder / "records" / "other.pdf"
    case = make_case(
        folder,
        [
            {"kind": "lab-report", "title": "Other", "file": "records/other.pdf"},
            {"kind": "lab-report", "title": "Gone", "file": "records/gone.pdf"},
            {"kind": "lab-report", "title": "Html", "file": "records/portal.pdf"},
            {
                "kind": "lab-report",
                "title": "Locked",
                "file": "records/locked.pdf",
                "password_env": "NOPE_PW",
            },
            {"kind": "lab-report", "title": "Trunc", "file": "records/trunc.pdf"},
        ],
    )
    report_pdf(other, "Someone Else", "1950-01-01", "ZZ-1")
    (folder / "records" / "portal.pdf").write_text(
        f"<!DOCTYPE html><p>Session for {NAME} expired</p>"
    )
    w = PdfWriter(clone_from=PdfReader(folder / "records" / "pathology.pdf"))
    w.encrypt("secret", algorithm="AES-256")
    with open(folder / "records" / "locked.pdf", "wb") as fh:
        w.write(fh)
    data = (folder / "records" / "ct.pdf").read_bytes()
    (folder / "records" / "trunc.pdf").write_bytes(data[: len(data) // 2])
    # schema errors whose values are patient data
    text = case.read_text().replace("date_of_birth: 1931-07-29", "date_of_birth: 29/07/1931")
    text = text.replace("phone: 555-0100", f"phone: 555-0100\n  nmae: {NAME}")
    bad_schema = folder / "bad.yaml"
    bad_schema.write_text(text)
    outputs: list[str] = []
    for args in (
        ["check", str(case)],
        ["check", str(case), "--format", "json"],
        ["check", str(bad_schema)],
        ["check", str(bad_schema), "--format", "json"],
        ["bundle", str(case), "--out", str(tmp_path / "o")],
        ["bundle", str(case), "--out", str(tmp_path / "o"), "--format", "json"],
        ["bundle", str(case), "--out", str(tmp_path / "o2"), "--allow-incomplete"],
        [
            "bundle",
            str(case),
            "--out",
            str(tmp_path / "o3"),
            "--allow-incomplete",
            "--format",
            "json",
        ],
    ):
        proc = cli(*args, "--today", "2026-11-24")
        assert proc.returncode in (0, 1), (args, proc.stderr)
        outputs += [proc.stdout, proc.stderr]
    assert_no_leak(*outputs)
    # the packet folder's file names and the manifest carry no patient values
    for p in (tmp_path / "o2").rglob("*"):
        assert_no_leak(p.name)
    assert_no_leak((tmp_path / "o2" / "manifest.json").read_text())


# ------------------------------------------------------------------ 8. batches


def test_fifty_cases_with_a_few_bad_ones(tmp_path: Path) -> None:
    cases = []
    for i in range(50):
        case = make_case(tmp_path / f"case{i:02d}", case_id=f"B-{i:03d}")
        if i % 12 == 5:  # four bad ones: missing record, broken YAML, wrong patient, junk file
            kind = (i // 12) % 4
            if kind == 0:
                (case.parent / "records" / "ct.pdf").unlink()
            elif kind == 1:
                case.write_text(case.read_text() + "patient: [\n")
            elif kind == 2:
                report_pdf(case.parent / "records" / "ct.pdf", "Other Person", "1990-02-02", "OT-1")
            else:
                (case.parent / "records" / "ct.pdf").write_bytes(b"garbage")
        cases.append(str(case))
    result = CliRunner().invoke(
        app,
        [
            "bundle",
            *cases,
            "--out",
            str(tmp_path / "out"),
            "--today",
            "2026-11-24",
            "--format",
            "json",
        ],
        env=ENV,
    )
    doc = json.loads(result.stdout)
    codes = [c["exit_code"] for c in doc["cases"]]
    assert codes.count(0) == 46
    assert sorted(c for c in codes if c) == [1, 1, 1, 3]
    assert result.exit_code == 3  # the highest, as documented
    assert len(list((tmp_path / "out").iterdir())) == 46
    assert_no_leak(result.stdout)


def test_input_error_messages_name_the_file_not_the_content(tmp_path: Path) -> None:
    path = tmp_path / "case.yaml"
    path.write_text(f"case_id: X\npatient: {{name: {NAME}\n")
    result = check_case(path, CheckOptions(today=TODAY))
    f = result.findings.errors[0]
    assert f.code == "yaml.syntax" and f.line == 2
    assert_no_leak(f.message, f.hint or "")
    with pytest.raises(InputError):
        raise InputError("x")


def test_a_merge_that_never_ends_is_stopped_at_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge runs in-process (pure-Python pypdf): a watchdog bounds it."""
    import opinionkit.bundle as b

    def forever(*a: Any, **k: Any) -> None:
        while True:
            time.sleep(0.01)

    monkeypatch.setattr(b, "assemble", forever)
    case = make_case(tmp_path / "c")
    opts = BundleOptions(
        out=tmp_path / "o", check=CheckOptions(today=TODAY, limits=Limits(seconds=1))
    )
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        bundle_case(case, opts)
    assert time.monotonic() - started < 30
    assert "writing the packet" in info.value.message and info.value.exit_code == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]

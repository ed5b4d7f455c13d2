"""Nothing lost: `--force` never deletes what opinionkit did not write, every enclosed file
(translations too) is judged by `check`, killed runs leave no process, output errors exit 4,
`export` refuses what it should, and DICOM copies that share a UID are all kept.

Every test here is a run a new user could make; each fails if the guarantee breaks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pypdf import PdfReader

from conftest import CORPUS, ENV, EXAMPLES, TODAY, needs_corpus, run_cli
from opinionkit.bundle import BundleOptions, bundle_case
from opinionkit.check import CheckOptions, check_case
from opinionkit.errors import ExitCode
from opinionkit.findings import Severity
from opinionkit.output import INVENTORY
from pdfgen import report, write_text_pdf

DAY = ["--today", TODAY.isoformat()]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash (what must survive)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".venv" not in p.parts
    }


# ------------------------------------------------------------ 1. --force deletes nothing


@pytest.fixture
def paed(example_copy: Callable[[str], Path], tmp_path: Path) -> Path:
    case = example_copy("paediatric-all")
    # an unrelated folder of the user's with files in it, beside the case
    (tmp_path / "Documents").mkdir()
    (tmp_path / "Documents" / "tax-2025.txt").write_text("keep me\n")
    (tmp_path / "Documents" / "sub").mkdir()
    (tmp_path / "Documents" / "sub" / "photo.jpg").write_bytes(b"\xff\xd8 keep me")
    return case


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("{case}", "holds the case file"),
        ("{case}/records", "holds the case file or its records"),
        ("{case}/records/imaging", "holds the case file or its records"),
        ("{tmp}", "will not write the output here"),
        ("{tmp}/Documents/sub", "did not"),
        (".", "current folder"),
        ("{home}", "home folder"),
    ],
)
def test_force_never_replaces_a_folder_opinionkit_did_not_write(
    paed: Path, tmp_path: Path, target: str, why: str
) -> None:
    home = tmp_path / "Documents"  # HOME points at a folder full of the user's files
    out = target.format(case=paed.parent, tmp=tmp_path, home=home)
    before = snapshot(tmp_path)
    # run from the user's folder only when `.` is the target; elsewhere from a bystander
    cwd = home / "sub" if out == "." else Path(tempfile.mkdtemp())
    proc = run_cli(
        "bundle", str(paed), "--out", out, "--force", *DAY, cwd=cwd, env={"HOME": str(home)}
    )
    assert proc.returncode == ExitCode.OUTPUT, proc.stdout + proc.stderr
    assert why in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before  # every file survives, nothing was added
    assert not [p for p in tmp_path.rglob(".*tmp*")]


def test_request_force_obeys_the_same_rule(
    example_copy: Callable[[str], Path], paed: Path, tmp_path: Path
) -> None:
    case = example_copy("incomplete")  # it has records still to request
    before = snapshot(tmp_path)
    for out in (case.parent, tmp_path / "Documents", case.parent / "records", paed.parent):
        proc = run_cli("request", str(case), "--out", str(out), "--force", *DAY)
        assert proc.returncode == ExitCode.OUTPUT, proc.stdout + proc.stderr
    assert snapshot(tmp_path) == before


def test_force_replaces_opinionkits_own_output_and_nothing_it_did_not_write(
    paed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "packet"
    first = run_cli("bundle", str(paed), "--out", str(out), *DAY)
    assert first.returncode == 0, first.stderr
    inventory = json.loads((out / INVENTORY).read_text())
    assert inventory["schema"] == "opinionkit.output/1" and inventory["command"] == "bundle"
    assert {f["path"] for f in inventory["files"]} >= {"manifest.json", "PAED-001-packet.pdf"}

    again = run_cli("bundle", str(paed), "--out", str(out), "--force", *DAY)
    assert again.returncode == 0, again.stderr  # its own output: replaced

    # a file the user put beside the packet makes the folder no longer ours alone
    (out / "my-notes.txt").write_text("keep me\n")
    refused = run_cli("bundle", str(paed), "--out", str(out), "--force", *DAY)
    assert refused.returncode == ExitCode.OUTPUT and "did not" in refused.stderr
    assert (out / "my-notes.txt").read_text() == "keep me\n"

    # so does a file of ours that the user changed since
    (out / "my-notes.txt").unlink()
    (out / "manifest.json").write_text("{}")
    refused = run_cli("bundle", str(paed), "--out", str(out), "--force", *DAY)
    assert refused.returncode == ExitCode.OUTPUT
    assert (out / "manifest.json").read_text() == "{}"


def test_without_force_an_existing_folder_is_never_touched(paed: Path, tmp_path: Path) -> None:
    before = snapshot(tmp_path)
    proc = run_cli("bundle", str(paed), "--out", str(tmp_path / "Documents"), *DAY)
    assert proc.returncode == ExitCode.OUTPUT and "--force" in proc.stderr
    assert snapshot(tmp_path) == before


# ------------------------------------------------- 2. translations are judged like records


def _lung_with_translation(example_copy: Callable[[str], Path], source: Path | bytes) -> Path:
    case = example_copy("lung-international")
    target = case.parent / "records" / "informe-alta-translation.pdf"
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        target.write_bytes(source)
    return case


def _translation_index(case: Path) -> int:
    records = yaml.safe_load(case.read_text())["records"]
    return next(i for i, r in enumerate(records) if r.get("translation"))


BROKEN_TRANSLATIONS = [
    ("gen__html-login-page.pdf", "file.wrong-type"),
    ("qpdf__70245.fuzz", None),  # zero bytes
    ("qpdf__20-pages.pdf", "pdf.encrypted"),
    ("qpdf__empty.pdf", None),  # zero pages
    ("qpdf__69857.fuzz", None),  # opens, cannot be merged
]


@needs_corpus
@pytest.mark.parametrize(("name", "code"), BROKEN_TRANSLATIONS)
def test_a_broken_translation_is_a_finding_and_never_claimed(
    example_copy: Callable[[str], Path], tmp_path: Path, name: str, code: str | None
) -> None:
    case = _lung_with_translation(example_copy, CORPUS / name)
    key = f"records[{_translation_index(case)}].translation"
    result = check_case(case, CheckOptions(today=TODAY))
    mine = [f for f in result.findings if f.key == key and f.severity is Severity.ERROR]
    assert mine, [(f.code, f.key) for f in result.findings]
    if code:
        assert code in {f.code for f in mine}

    res = bundle_case(
        case,
        BundleOptions(
            out=tmp_path / "p",
            allow_incomplete=True,
            environ=dict(ENV),
            check=CheckOptions(today=TODAY),
        ),
    )
    manifest = res.manifest
    assert manifest["complete"] is False
    assert [w["key"] for w in manifest["withheld"]] == [key]
    assert manifest["withheld"][0]["translation"] is True
    discharge = next(i for i in manifest["inputs"] if i["path"] == "records/informe-alta-es.pdf")
    assert not discharge.get("translation")
    pdf = next(res.out.glob("*-packet.pdf"))  # type: ignore[union-attr]
    front = " ".join(p.extract_text() for p in PdfReader(pdf).pages[:4])
    assert "English translation follows" not in " ".join(front.split())


def test_a_translation_showing_another_patient_is_withheld(
    example_copy: Callable[[str], Path],
) -> None:
    other = report("Marta Quinlan Oyelaran", "1951-02-03", "ZZ-771234", "DISCHARGE SUMMARY")
    case = _lung_with_translation(example_copy, b"")
    write_text_pdf(case.parent / "records" / "informe-alta-translation.pdf", other)
    key = f"records[{_translation_index(case)}].translation"
    result = check_case(case, CheckOptions(today=TODAY))
    codes = {f.code for f in result.findings if f.key == key}
    assert "identity.mismatch" in codes, codes
    assert key in {w.key for w in result.usable().withheld()}


@needs_corpus
def test_a_huge_translation_is_read_in_a_worker_within_limits(
    example_copy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = _lung_with_translation(example_copy, CORPUS / "gen__10000-pages.pdf")
    import opinionkit.inspect.pdf as pdfmod

    def not_here(*a: object, **k: object) -> None:
        raise AssertionError("the main process opened a record")

    # inspection happens in worker processes: the parent's copy is never called
    monkeypatch.setattr(pdfmod, "inspect_pdf", not_here)
    result = check_case(case, CheckOptions(today=TODAY))
    key = f"records[{_translation_index(case)}].translation"
    assert {f.code for f in result.findings if f.key == key} & {
        "identity.not-found",
        "identity.not-verifiable",
    }


# --------------------------------------------------- 3. check reports what bundle refuses


@needs_corpus
def test_check_reports_an_unmergeable_record(tmp_path: Path) -> None:
    from test_hostile import make_case

    bad = tmp_path / "records" / "odd.pdf"
    bad.parent.mkdir(parents=True)
    shutil.copyfile(CORPUS / "qpdf__69857.fuzz", bad)
    case = make_case(
        tmp_path,
        [{"kind": "other", "title": "Odd", "date": "2026-10-01", "file": "records/odd.pdf"}],
    )
    result = check_case(case, CheckOptions(today=TODAY))
    codes = {f.code for f in result.findings if f.key == "records[2].file"}
    assert codes & {"pdf.unmergeable", "pdf.unreadable"}, codes


# ------------------------------------------------------------ 4. killed runs leave nothing


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="], capture_output=True, text=True)
    return [int(k) for k in out.stdout.split()]


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        state = stat.read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.parametrize("command", ["check", "bundle"])
def test_a_killed_run_leaves_no_worker_behind(
    example_copy: Callable[[str], Path], tmp_path: Path, command: str
) -> None:
    case = example_copy("lung-international")
    extra = ["--out", str(tmp_path / "p")] if command == "bundle" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "opinionkit", command, str(case), *DAY, *extra],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # wait until the inspection workers are running, then kill the parent outright
    deadline = time.monotonic() + 30
    kids: list[int] = []
    while not kids and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        kids = _children(proc.pid)
    assert kids, "the run ended before its workers could be seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    alive = kids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [k for k in alive if _alive(k)]
    assert alive == [], f"{len(alive)} worker(s) outlived their parent"


def test_a_killed_bundles_temporary_folder_is_removed_by_the_next_run(
    paed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "packet"
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process id that no longer runs, as after SIGKILL
    stale = tmp_path / f".packet.tmp-{gone.pid}-x1y2"
    stale.mkdir()
    (stale / "half-written.pdf").write_bytes(b"%PDF-1.7 partial")
    proc = run_cli("bundle", str(paed), "--out", str(out), *DAY)
    assert proc.returncode == 0, proc.stderr
    assert not stale.exists()


# ------------------------------------------------------------- 5. output errors exit 4


def test_a_full_stdout_exits_4_without_a_traceback() -> None:
    case = EXAMPLES / "paediatric-all" / "case.yaml"
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "opinionkit", "check", str(case), *DAY, "--format", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **ENV},
        )
    assert proc.returncode == ExitCode.OUTPUT, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_closed_stdout_exits_4_without_a_traceback() -> None:
    case = EXAMPLES / "paediatric-all" / "case.yaml"
    argv = ["opinionkit", "check", str(case), *DAY, "--format", "json"]
    code = (
        f"import os, sys; os.close(1); sys.argv = {argv!r}; from opinionkit.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, env={**os.environ, **ENV}
    )
    assert proc.returncode == ExitCode.OUTPUT, proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------ 6. export


def test_export_refuses_a_case_with_errors_unless_allowed(tmp_path: Path) -> None:
    case = EXAMPLES / "incomplete" / "case.yaml"
    out = tmp_path / "bundle.json"
    refused = run_cli("export", str(case), "--fhir", "--out", str(out))
    assert refused.returncode == ExitCode.FINDINGS, refused.stderr
    assert not out.exists()

    allowed = run_cli("export", str(case), "--fhir", "--out", str(out), "--allow-incomplete")
    assert allowed.returncode == 0, allowed.stderr
    doc = json.loads(out.read_text())
    titles = [
        e["resource"].get("description", "")
        for e in doc["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    attached = json.dumps(doc)
    # the other patient's CT that check withheld is not exported as this patient's
    assert "outside-ct.pdf" not in attached, titles
    assert "TODO" not in attached


def test_export_refuses_a_manifest_from_another_case(tmp_path: Path) -> None:
    lung = bundle_case(
        EXAMPLES / "lung-international" / "case.yaml",
        BundleOptions(out=tmp_path / "lung", environ=dict(ENV), check=CheckOptions(today=TODAY)),
    )
    manifest = lung.out / "manifest.json"  # type: ignore[operator]
    proc = run_cli(
        "export",
        str(EXAMPLES / "sarcoma-adult" / "case.yaml"),
        "--fhir",
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "x.json"),
    )
    assert proc.returncode == ExitCode.INPUT, proc.stderr
    assert "manifest" in proc.stderr and not (tmp_path / "x.json").exists()

    ok = run_cli(
        "export",
        str(EXAMPLES / "lung-international" / "case.yaml"),
        "--fhir",
        "--manifest",
        str(manifest),
        "--out",
        str(tmp_path / "y.json"),
    )
    assert ok.returncode == 0, ok.stderr


# --------------------------------------------------------------- 7. DICOM sharing a UID


def _dicom_case(example_copy: Callable[[str], Path], differ: bool) -> tuple[Path, Path]:
    case = example_copy("lung-international")
    study = case.parent / "records" / "imaging" / "ct-2026-10-02"
    first = sorted(p for p in study.rglob("*") if p.is_file())[0]
    for n in range(7):
        copy = first.with_name(f"copy-{n}.dcm")
        data = bytearray(first.read_bytes())
        if differ and n == 0:
            data[-1] ^= 0x5A  # same header and UID, different pixels
        copy.write_bytes(bytes(data))
    return case, first


def test_identical_dicom_copies_are_noted_and_every_source_is_listed(
    example_copy: Callable[[str], Path], tmp_path: Path
) -> None:
    case, first = _dicom_case(example_copy, differ=False)
    result = check_case(case, CheckOptions(today=TODAY))
    assert "dicom.duplicate-file" in {f.code for f in result.findings}
    assert "dicom.duplicate-uid" not in {f.code for f in result.findings}
    res = bundle_case(
        case,
        BundleOptions(
            out=tmp_path / "p", dicomdir=True, environ=dict(ENV), check=CheckOptions(today=TODAY)
        ),
    )
    study = next(s for s in res.manifest["imaging"] if "ct-2026-10-02" in s["files"][0]["source"])
    sources = {f["source"] for f in study["files"]}
    rel = str(first.relative_to(case.parent))
    assert rel in sources and all(
        rel.replace(first.name, f"copy-{n}.dcm") in sources for n in range(7)
    )


def test_differing_files_with_one_uid_are_a_finding_and_both_are_kept(
    example_copy: Callable[[str], Path], tmp_path: Path
) -> None:
    case, first = _dicom_case(example_copy, differ=True)
    result = check_case(case, CheckOptions(today=TODAY))
    dup = [f for f in result.findings if f.code == "dicom.duplicate-uid"]
    assert dup and "copy-0.dcm" in dup[0].message and first.name in dup[0].message
    res = bundle_case(
        case,
        BundleOptions(
            out=tmp_path / "p", dicomdir=True, environ=dict(ENV), check=CheckOptions(today=TODAY)
        ),
    )
    study = next(s for s in res.manifest["imaging"] if "ct-2026-10-02" in s["files"][0]["source"])
    outputs = {f["source"]: f["file"] for f in study["files"]}
    rel = str(first.relative_to(case.parent))
    changed = rel.replace(first.name, "copy-0.dcm")
    assert outputs[rel] != outputs[changed]
    assert (res.out / outputs[changed]).is_file() and (res.out / outputs[rel]).is_file()  # type: ignore[operator]


# ------------------------------------------------------ 8. scripts see the truth (JSON)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_bundle_json_tells_what_was_withheld_and_missing(tmp_path: Path, fmt: str) -> None:
    case = EXAMPLES / "incomplete" / "case.yaml"
    proc = run_cli(
        "bundle",
        str(case),
        "--out",
        str(tmp_path / "p"),
        "--allow-incomplete",
        "--format",
        fmt,
        *DAY,
    )
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        (doc,) = json.loads(proc.stdout)["cases"]
    else:
        (doc,) = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert doc["index"] == 0 and doc["case_id"]
    assert doc["complete"] is False
    assert doc["missing"]
    codes = {w["path"]: w["code"] for w in doc["withheld"]}
    assert codes == {
        "records/outside-ct.pdf": "identity.mismatch",  # another patient's
        "records/breast-clinic-letter.pdf": "file.not-found",  # listed, not there
    }


def test_bundle_accepts_max_file_mb(example_copy: Callable[[str], Path], tmp_path: Path) -> None:
    case = example_copy("paediatric-all")
    record = sorted((case.parent / "records").glob("*.pdf"))[0]
    with record.open("ab") as f:  # bytes after %%EOF: still a readable PDF, now 2 MB
        f.write(b"\n%" + b"0" * (2 * 1024 * 1024) + b"\n")
    refused = run_cli("bundle", str(case), "--out", str(tmp_path / "p"), "--max-file-mb", "1", *DAY)
    assert refused.returncode == ExitCode.FINDINGS, refused.stderr
    assert "file.too-large" in refused.stdout + refused.stderr
    assert not (tmp_path / "p").exists()
    ok = run_cli("bundle", str(case), "--out", str(tmp_path / "q"), "--max-file-mb", "5", *DAY)
    assert ok.returncode == 0, ok.stderr

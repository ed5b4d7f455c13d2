"""init, schema, request, export --fhir, and parallel batches (--jobs, jsonl)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from conftest import ENV, EXAMPLES, TODAY
from opinionkit import yamlsafe
from opinionkit.check import CheckOptions, check_case
from opinionkit.cli import app
from opinionkit.fhir import export_fhir
from opinionkit.inspect.limits import Limits
from opinionkit.requests import plan_requests, write_requests
from opinionkit.schema import case_schema

runner = CliRunner()


def pdf_text(path: Path) -> str:
    return " ".join(" ".join(p.extract_text() for p in PdfReader(path).pages).split())


# ------------------------------------------------------------------ init


def test_init_scaffolds_a_commented_case_that_check_understands(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    result = runner.invoke(
        app,
        [
            "init",
            str(folder),
            "--profile",
            "paediatric",
            "--case-id",
            "KID-001",
            "--name",
            'Ada "Q" #Testperson',
            "--dob",
            "2018-03-04",
            "--no-ask",
        ],
    )
    assert result.exit_code == 0, result.output
    text = (folder / "case.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=./case.schema.json")
    assert (folder / "records" / "imaging").is_dir() and (folder / "case.schema.json").is_file()
    for section in (
        "guardians:",
        "insurance:",
        "care_team:",
        "recipient:",
        "request:",
        "diagnosis:",
        "treatment:",
        "medications:",
        "allergies:",
        "records:",
        "physical_materials:",
        "sender:",
        "biomarkers:",
        "performance_status:",
    ):
        assert section in text, section
    checked = check_case(folder / "case.yaml", CheckOptions(today=TODAY))
    codes = {f.code for f in checked.findings.errors}
    assert not {c for c in codes if c.startswith(("schema.", "yaml."))}, codes
    assert "value.placeholder" in codes and "missing.pathology" in codes
    assert checked.loaded and checked.loaded.case
    assert checked.loaded.case.patient.name == 'Ada "Q" #Testperson'


def test_init_asks_at_a_terminal_and_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "asked"
    answers = "adult-general\nASK-1\nBo Example\n1970-01-01\npatient\n"
    result = runner.invoke(app, ["init", str(folder), "--ask"], input=answers)
    assert result.exit_code == 0, result.output
    text = (folder / "case.yaml").read_text()
    assert "case_id: ASK-1" in text and '"Bo Example"' in text and "1970-01-01" in text
    before = text
    again = runner.invoke(app, ["init", str(folder), "--no-ask", "--case-id", "OTHER"])
    assert again.exit_code == 4 and "never overwrites" in again.output
    assert (folder / "case.yaml").read_text() == before


def test_init_refuses_bad_answers(tmp_path: Path) -> None:
    bad_id = runner.invoke(app, ["init", str(tmp_path / "a"), "--case-id", "has space", "--no-ask"])
    assert bad_id.exit_code == 2
    bad_dob = runner.invoke(app, ["init", str(tmp_path / "b"), "--dob", "4/3/2018", "--no-ask"])
    assert bad_dob.exit_code == 2
    assert not (tmp_path / "a" / "case.yaml").exists()


# ------------------------------------------------------------------ schema


def _yaml12(value: Any) -> Any:
    """Scalars typed as a YAML 1.2 editor types them (yes/no stay text, dates stay text)."""
    if isinstance(value, dict):
        return {k: _yaml12(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_yaml12(v) for v in value]
    if value is None or not isinstance(value, str):
        return value
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"[-+]?[0-9]+", value):
        return int(value)
    if re.fullmatch(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?", value):
        return float(value)
    return value


def _typed(path: Path) -> Any:
    doc = yamlsafe.parse(path.read_bytes())
    data = doc.data
    # the loader keeps quoted scalars as text: re-type only what was not quoted
    text = path.read_text()
    typed = _yaml12(data)
    for quoted in re.findall(r'mrn: "([^"]+)"|group_id: "([^"]+)"', text):
        for q in quoted:
            if q and q.isdigit():
                typed = _requote(typed, int(q), q)
    return typed


def _requote(value: Any, number: int, text: str) -> Any:
    if isinstance(value, dict):
        return {k: _requote(v, number, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_requote(v, number, text) for v in value]
    return text if value == number and not isinstance(value, bool) else value


@pytest.mark.parametrize(
    "name", ["lung-international", "paediatric-all", "sarcoma-adult", "incomplete"]
)
def test_every_example_validates_against_the_schema(name: str) -> None:
    schema = case_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(_typed(EXAMPLES / name / "case.yaml"), schema)


def test_the_schema_rejects_what_check_rejects() -> None:
    schema = case_schema()
    data = _typed(EXAMPLES / "sarcoma-adult" / "case.yaml")
    data["patient"]["dob"] = "1978-02-27"  # unknown key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_schema_command_prints_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "opinionkit case file"
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["schema", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["$schema"].endswith("2020-12/schema")


# ------------------------------------------------------------------ request


def test_requests_for_the_incomplete_case(tmp_path: Path) -> None:
    checked = check_case(EXAMPLES / "incomplete" / "case.yaml", CheckOptions(today=TODAY))
    plan = plan_requests(checked)
    assert [r.facility for r in plan] == ["Lakeview General Hospital"]
    wanted = " ".join(i.what for i in plan[0].items)
    assert "pathology report" in wanted and "slides" in wanted and "DICOM" in wanted
    res = write_requests(checked, tmp_path / "req")
    letter = pdf_text(tmp_path / "req" / "INC-004-request-01-lakeview-general-hospital.pdf")
    assert "Ruth Calloway" in letter and "LK-003318" in letter and "second opinion" in letter
    auth = pdf_text(tmp_path / "req" / "INC-004-authorisation-01-lakeview-general-hospital.pdf")
    for element in (
        "Who discloses",
        "Disclosed to",
        "Information to disclose",
        "Purpose",
        "expires on 20 November 2027",
        "revoke",
        "Signature",
        "Date",
        "does not depend on my signing",
    ):
        assert element in auth, element
    text = (tmp_path / "req" / "INC-004-request-01-lakeview-general-hospital.txt").read_text()
    assert "1. the final pathology report" in text
    summary = json.loads((tmp_path / "req" / "requests.json").read_text())
    assert summary["schema"] == "opinionkit.requests/1" and len(res.files) == 4
    for name in res.files:
        assert "Calloway" not in name


def test_a_requested_record_and_a_guardian_signer(tmp_path: Path) -> None:
    src = EXAMPLES / "paediatric-all"
    case_dir = tmp_path / "kid"
    shutil.copytree(src, case_dir)
    text = (case_dir / "case.yaml").read_text() + (
        "  - kind: lab-report\n    title: MRD flow cytometry, day 29\n"
        "    source: Brookfield Genetics Laboratory\n    status: requested\n"
    )
    text = text.replace("physical_materials:", "physical_materials_moved:", 1)
    text = text.replace("physical_materials_moved:", "physical_materials:")
    (case_dir / "case.yaml").write_text(text.replace("records:\n", "records:\n", 1))
    # move the appended record into the records list (it was added at the end of the file)
    lines = (case_dir / "case.yaml").read_text().split("\n")
    extra = lines[-5:-1]
    body = lines[:-5]
    at = body.index("physical_materials:")
    (case_dir / "case.yaml").write_text("\n".join(body[:at] + extra + body[at:]) + "\n")
    checked = check_case(case_dir / "case.yaml", CheckOptions(today=TODAY))
    assert not checked.findings.errors, [f.code for f in checked.findings.errors]
    plan = plan_requests(checked)
    assert [r.facility for r in plan] == ["Brookfield Genetics Laboratory"]
    write_requests(checked, tmp_path / "req")
    auth = pdf_text(next((tmp_path / "req").glob("*authorisation*.pdf")))
    assert "Grace Okafor" in auth and "legal guardian" in auth and "Authority to sign" in auth


def test_nothing_missing_means_no_letters(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "request",
            str(EXAMPLES / "paediatric-all" / "case.yaml"),
            "--out",
            str(tmp_path / "r"),
            "--today",
            "2026-11-24",
        ],
    )
    assert result.exit_code == 0 and "nothing is missing" in result.output
    assert not (tmp_path / "r").exists()


def test_request_cli_json_and_never_overwrites(tmp_path: Path) -> None:
    args = [
        "request",
        str(EXAMPLES / "sarcoma-adult" / "case.yaml"),
        "--out",
        str(tmp_path / "r"),
        "--today",
        "2026-11-24",
        "--format",
        "json",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["requests"][0]["facility"] == "Riverside University Hospital"
    assert "Operative report" in doc["requests"][0]["items"][0]["what"]
    again = runner.invoke(app, args)
    assert again.exit_code == 4


# ------------------------------------------------------------------ FHIR


@pytest.fixture(scope="module")
def fhir_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("b") / "p"
    result = runner.invoke(
        app,
        [
            "bundle",
            str(EXAMPLES / "lung-international" / "case.yaml"),
            "--out",
            str(out),
            "--today",
            "2026-11-24",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    exported = runner.invoke(
        app,
        [
            "export",
            str(EXAMPLES / "lung-international" / "case.yaml"),
            "--fhir",
            "--manifest",
            str(out / "manifest.json"),
        ],
    )
    assert exported.exit_code == 0, exported.output
    return json.loads(exported.stdout)  # type: ignore[no-any-return]


def test_fhir_bundle_is_read_by_a_fhir_parser(fhir_doc: dict[str, Any]) -> None:
    from fhir.resources.R4B.bundle import Bundle

    bundle = Bundle.model_validate(fhir_doc)
    assert bundle.type == "collection"
    kinds = [e.resource.get_resource_type() for e in bundle.entry]
    for expected in (
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "Procedure",
        "DocumentReference",
    ):
        assert expected in kinds, expected


def test_fhir_references_resolve_within_the_bundle(fhir_doc: dict[str, Any]) -> None:
    urls = {e["fullUrl"] for e in fhir_doc["entry"]}
    refs: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            if isinstance(v.get("reference"), str):
                refs.append(v["reference"])
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(fhir_doc)
    assert refs and set(refs) <= urls


def test_fhir_content_follows_the_case(fhir_doc: dict[str, Any]) -> None:
    res = [e["resource"] for e in fhir_doc["entry"]]
    patient = next(r for r in res if r["resourceType"] == "Patient")
    assert patient["birthDate"] == "1964-08-19"
    assert {i["value"] for i in patient["identifier"]} == {"00482913", "HCA-448120"}
    stage = [
        r
        for r in res
        if r["resourceType"] == "Observation"
        and r["code"].get("coding", [{}])[0].get("code") == "21908-9"
    ]
    assert stage[0]["valueCodeableConcept"]["text"] == "IIIA" and len(stage[0]["hasMember"]) == 3
    docs = [r for r in res if r["resourceType"] == "DocumentReference"]
    assert len(docs) == 11  # every received record, the DICOM study included
    path = next(d for d in docs if d["description"].startswith("Lung core biopsy"))
    att = path["content"][0]["attachment"]
    ext = {x["url"].rsplit("/", 1)[-1]: x for x in att["extension"]}
    import hashlib

    data = (EXAMPLES / "lung-international" / att["url"]).read_bytes()
    assert ext["sha256"]["valueString"] == hashlib.sha256(data).hexdigest()
    assert att["size"] == len(data) and ext["page-count"]["valueUnsignedInt"] == 1
    assert ext["packet-pages"]["valueRange"]["low"]["value"] == 6


def test_fhir_export_is_deterministic() -> None:
    checked = check_case(EXAMPLES / "sarcoma-adult" / "case.yaml", CheckOptions(today=TODAY))
    assert export_fhir(checked) == export_fhir(checked)


def test_export_needs_a_format_and_a_real_manifest(tmp_path: Path) -> None:
    case = str(EXAMPLES / "sarcoma-adult" / "case.yaml")
    assert runner.invoke(app, ["export", case]).exit_code == 2
    bad = tmp_path / "m.json"
    bad.write_text("[]")
    assert runner.invoke(app, ["export", case, "--fhir", "--manifest", str(bad)]).exit_code == 3


# ------------------------------------------------------------------ parallel batches


def _many(tmp_path: Path, n: int) -> list[str]:
    out = []
    names = ["lung-international", "paediatric-all", "sarcoma-adult", "incomplete"]
    for i in range(n):
        dst = tmp_path / f"c{i:02d}"
        shutil.copytree(EXAMPLES / names[i % 4], dst)
        text = (dst / "case.yaml").read_text()
        (dst / "case.yaml").write_text(
            re.sub(r"case_id: \S+", f"case_id: J-{i:03d}", text, count=1)
        )
        out.append(str(dst / "case.yaml"))
    return out


def test_check_with_jobs_matches_one_job_and_streams_jsonl(tmp_path: Path) -> None:
    cases = _many(tmp_path, 6)
    one = runner.invoke(app, ["check", *cases, "--today", "2026-11-24", "--format", "json"])
    two = runner.invoke(
        app, ["check", *cases, "--today", "2026-11-24", "--format", "json", "--jobs", "2"]
    )
    assert one.exit_code == two.exit_code == 1
    assert json.loads(one.stdout) == json.loads(two.stdout)
    lines = runner.invoke(
        app, ["check", *cases, "--today", "2026-11-24", "--format", "jsonl", "--jobs", "2"]
    )
    docs = [json.loads(x) for x in lines.stdout.splitlines()]
    assert sorted(d["index"] for d in docs) == list(range(6))
    assert {d["case_id"] for d in docs} == {f"J-{i:03d}" for i in range(6)}
    assert lines.exit_code == 1


def test_bundle_with_jobs_and_jsonl(tmp_path: Path) -> None:
    cases = _many(tmp_path, 4)
    result = runner.invoke(
        app,
        [
            "bundle",
            *cases,
            "--out",
            str(tmp_path / "out"),
            "--jobs",
            "2",
            "--today",
            "2026-11-24",
            "--format",
            "jsonl",
        ],
        env=ENV,
    )
    docs = [json.loads(x) for x in result.stdout.splitlines()]
    assert len(docs) == 4
    assert sorted(d["exit_code"] for d in docs) == [0, 0, 0, 1]  # the incomplete one refused
    assert result.exit_code == 1
    assert len(list((tmp_path / "out").iterdir())) == 3
    assert not io.StringIO(result.stdout).read().count("Traceback")


_BATCH_PROBE = """
import sys
from opinionkit.batch import run_cases
from opinionkit.typstproc import typst_used
from opinionkit.inspect import limits


def probe(path):
    return "opinionkit.checks.files" in sys.modules, limits._WORKERS


def where(path):
    import os

    return os.getpid()


if __name__ == "__main__":
    import opinionkit.checks.files  # noqa: F401  (warm: a fork has it, a spawn does not)

    def rows():
        return [r for _, _, r, _ in run_cases(probe, ["a", "b"], (), 2)]

    def alone():  # the default: side by side only where the workers are forks
        import os

        return {r == os.getpid() for _, _, r, _ in run_cases(where, ["a", "b"])}

    print(typst_used(), rows(), alone())
    from opinionkit.pdf.stamp import StampSpec, render_stamps

    render_stamps(StampSpec("x"), [(500.0, "Page 1 of 1")])
    print(typst_used(), rows(), alone())
"""


def test_batch_workers_are_warm_forks_until_typst_ran_and_inspect_on_one_child(
    tmp_path: Path,
) -> None:
    """--jobs workers are forks of the warm parent while it has never run Typst (which
    cannot run in a fork of a process that used it), fresh interpreters after; either
    way each inspects its case's files on one bounded child, not one per CPU."""
    script = tmp_path / "probe.py"
    script.write_text(_BATCH_PROBE)
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    ).stdout.splitlines()
    assert out == [
        "False [(True, 1), (True, 1)] {False}",
        "True [(False, 1), (False, 1)] {True}",
    ]


def _budget(_path: Path) -> tuple[int, int]:
    from opinionkit.inspect import limits

    return os.getpid(), limits.worker_count()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_jobs_is_a_budget_of_working_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``jobs`` counts every process that works at once, as ``make -j`` does: one case, or
    ``jobs=1``, reads its files on ``jobs`` workers in this process's care; several cases
    side by side each read theirs on one (or share what is left over); by default one
    per CPU; the setting ends with the call."""
    from opinionkit import typstproc
    from opinionkit.batch import run_cases
    from opinionkit.inspect import limits

    def run(n: int, jobs: int | None) -> list[tuple[bool, int]]:
        paths = [Path(str(i)) for i in range(n)]
        return [(r[0] == os.getpid(), r[1]) for _, _, r, _ in run_cases(_budget, paths, (), jobs)]

    before = limits.worker_count()
    assert run(1, 1) == [(True, 1)]
    assert run(1, 3) == [(True, 3)]
    assert run(3, 1) == [(True, 1)] * 3
    assert run(3, 2) == [(False, 1)] * 3
    assert run(2, 4) == [(False, 2)] * 2
    assert limits.worker_count() == before
    monkeypatch.setattr(limits, "usable_cpus", lambda: 3)
    assert run(1, None) == [(True, 3)]
    # side by side by default where the workers can be forks; one at a time where they
    # could not (this process, or an earlier test in it, may have run Typst)
    monkeypatch.setattr(typstproc, "fork_safe", lambda: True)
    assert run(4, None) == [(False, 1)] * 4
    monkeypatch.setattr(typstproc, "fork_safe", lambda: False)
    assert run(4, None) == [(True, 1)] * 4
    assert limits._WORKERS == 0  # back to "one per CPU"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_a_batch_forks_its_inspection_workers_once_not_per_case(
    example_copy: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three cases checked one after the other share the inspection workers: they are
    forked (and their libraries warmed up) once for the batch, not once per case, and
    every case's files are still read and judged."""
    from opinionkit.check import check_paths
    from opinionkit.inspect import limits

    started: list[object] = []
    start = limits._start_worker

    def counting(ctx: object, lim: Limits) -> tuple[object, object]:
        conn, proc = start(ctx, lim)
        started.append(proc)
        return conn, proc

    monkeypatch.setattr(limits, "_start_worker", counting)
    cases = [example_copy(n) for n in ("lung-international", "paediatric-all", "sarcoma-adult")]
    result = check_paths(cases, CheckOptions(today=TODAY, ocr="off"), jobs=1)
    assert [int(r.exit_code(False)) for r in result.cases] == [0, 0, 0]
    assert all(r.records for r in result.cases)
    assert len(started) == 1  # jobs=1: one thing at a time


def _kept_on(_path: Path) -> bool:
    from opinionkit.inspect import limits

    return limits._kept() is not None


def test_only_a_batch_keeps_its_inspection_workers() -> None:
    """One case's inspection workers end once its files are read (kept, they would idle
    through its merge and count in its memory); a batch's wait for the next case."""
    from opinionkit.batch import run_cases

    one = [r for _, _, r, _ in run_cases(_kept_on, [Path("a")])]
    many = [r for _, _, r, _ in run_cases(_kept_on, [Path("a"), Path("b")])]
    assert one == [False] and many == [True, True]

"""`bundle` end to end: structure, navigation, guarantees, options, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from conftest import CASES, ENV, EXAMPLES, TODAY
from opinionkit.bundle import BundleOptions, BundleRefused, BundleResult, bundle_case, parse_size
from opinionkit.check import CheckOptions
from opinionkit.cli import app
from opinionkit.errors import ExitCode, OutputExistsError, UsageError
from pdfgen import outline_rows


def opts(out: Path, **kw: Any) -> BundleOptions:
    kw.setdefault("environ", dict(ENV))
    return BundleOptions(out=out, check=CheckOptions(today=TODAY), **kw)


@pytest.fixture(scope="module")
def lung(tmp_path_factory: pytest.TempPathFactory) -> BundleResult:
    out = tmp_path_factory.mktemp("lung") / "packet"
    return bundle_case(EXAMPLES / "lung-international" / "case.yaml", opts(out))


def packet(res: BundleResult) -> Path:
    assert res.out is not None
    (path,) = res.out.glob("*-packet*.pdf")
    return path


# --------------------------------------------------------------------- the packet


def test_packet_pages_are_front_matter_plus_every_record(lung: BundleResult) -> None:
    reader = PdfReader(packet(lung))
    manifest = lung.manifest
    front = manifest["front_matter"]
    record_pages = sum(i["pages"][1] - i["pages"][0] + 1 for i in manifest["inputs"])
    assert len(reader.pages) == front[-1]["pages"][1] + record_pages == manifest["pages"]
    assert [s["section"] for s in front] == [
        "Cover letter",
        "Case summary",
        "Index of enclosures",
        "Imaging index",
        "Materials shipped separately",
    ]
    # records in reviewer order: pathology first, release authorisation last
    kinds = [i["kind"] for i in manifest["inputs"]]
    assert kinds[0] == "pathology-report" and kinds[-1] == "release-authorization"


def test_every_page_is_stamped_and_labelled(lung: BundleResult) -> None:
    reader = PdfReader(packet(lung))
    n = len(reader.pages)
    assert reader.page_labels == [str(i) for i in range(1, n + 1)]
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"Page {i} of {n}" in text
        assert "Tomás Ferrer Vidal · DOB 1964-08-19 · Case LUNG-002" in text


FRONT_SECTIONS = (
    "Cover letter",
    "Case summary",
    "Index of enclosures",
    "Imaging index",
    "Materials shipped separately",
)


def test_bookmarks_one_per_section_category_and_record(lung: BundleResult) -> None:
    reader = PdfReader(packet(lung))
    marks = outline_rows(reader)
    tops = [t for d, t, _ in marks if d == 0]
    assert tops[0] == "Front matter" and tops[1] == "Pathology"
    records = [(t, p) for d, t, p in marks if d == 1 and t not in FRONT_SECTIONS]
    assert len(records) == len(lung.manifest["inputs"])
    for (title, page), item in zip(records, lung.manifest["inputs"], strict=True):
        assert page == item["pages"][0], title
    # each record's own bookmarks (its section headings) hang beneath it, on its pages;
    # the front matter's headings are not bookmarked
    assert marks[1:6] == [(1, t, p) for t, p in zip(FRONT_SECTIONS, range(1, 6), strict=True)]
    pathology = marks.index((1, "Lung core biopsy — surgical pathology report", 6))
    assert marks[pathology + 1 : pathology + 4] == [
        (2, "Specimen", 6),
        (2, "Microscopic description", 6),
        (2, "Diagnosis", 6),
    ]
    inputs = {i["pages"][0]: i["pages"][1] for i in lung.manifest["inputs"]}
    for n, (depth, title, page) in enumerate(marks):
        if depth == 2:
            first = max(p for d, _, p in marks[:n] if d == 1)
            assert first <= page <= inputs[first], title


def test_index_links_land_on_the_first_page_of_each_record(lung: BundleResult) -> None:
    reader = PdfReader(packet(lung))
    index_page = lung.manifest["front_matter"][2]["pages"][0]
    targets = set()
    for annot in reader.pages[index_page - 1].get("/Annots") or []:
        action = annot.get_object()["/A"]
        assert action["/S"] == "/GoTo"
        targets.add(
            reader.get_destination_page_number(action) + 1
            if False
            else _dest_page(reader, action["/D"])
        )
    assert targets == {i["pages"][0] for i in lung.manifest["inputs"]}
    # the page a link lands on really is that record: its own title is on it
    first_ngs = next(i for i in lung.manifest["inputs"] if i["kind"] == "genomic-report")
    assert "Next-Generation Sequencing" in reader.pages[first_ngs["pages"][0] - 1].extract_text()


def _dest_page(reader: PdfReader, dest: Any) -> int:
    target = dest[0].get_object()
    for n, page in enumerate(reader.pages, start=1):
        if page.indirect_reference.idnum == target.indirect_reference.idnum:
            return n
    raise AssertionError("link to a page outside the packet")


def test_index_and_summary_show_the_case(lung: BundleResult) -> None:
    reader = PdfReader(packet(lung))
    letter = " ".join(reader.pages[0].extract_text().split())
    assert "The question for the reviewers" in letter
    assert "consolidation osimertinib rather than durvalumab" in letter
    summary = " ".join(reader.pages[1].extract_text().split())
    for expected in ("EGFR", "exon 19 deletion", "omeprazole", "penicillin", "IIIA"):
        assert expected in summary
    imaging = " ".join(reader.pages[3].extract_text().split())
    assert "imaging/study-01/" in imaging and "CT" in imaging


@pytest.mark.skipif(shutil.which("qpdf") is None, reason="qpdf not installed")
def test_qpdf_finds_no_damage(lung: BundleResult) -> None:
    proc = subprocess.run(["qpdf", "--check", str(packet(lung))], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_output_folder_contents_names_and_permissions(lung: BundleResult) -> None:
    assert lung.out is not None
    names = sorted(p.relative_to(lung.out).as_posix() for p in lung.out.rglob("*") if p.is_file())
    assert "LUNG-002-packet.pdf" in names and "manifest.json" in names
    assert "LUNG-002-cover-letter.pdf" in names and "LUNG-002-cover-letter.txt" in names
    assert sum(n.startswith("imaging/study-01/") for n in names) == 8
    for name in names:  # no patient data in file names
        assert not re.search(r"ferrer|tomas|vidal|1964", name, re.IGNORECASE)
    assert stat.S_IMODE(lung.out.stat().st_mode) == 0o700
    for p in lung.out.rglob("*"):
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_metadata_has_no_patient_data(lung: BundleResult) -> None:
    meta = PdfReader(packet(lung)).metadata
    assert meta is not None
    blob = json.dumps({k: str(v) for k, v in meta.items()})
    assert "Ferrer" not in blob and "1964" not in blob
    assert "LUNG-002" in str(meta.title)
    assert str(meta["/CreationDate"]).startswith("D:20260921")  # from SOURCE_DATE_EPOCH


def test_manifest_hashes_match_inputs_and_outputs(lung: BundleResult) -> None:
    assert lung.out is not None
    m = json.loads((lung.out / "manifest.json").read_text())
    assert m["schema"] == "opinionkit.manifest/1" and m["profile"] == "international-written"
    case_dir = EXAMPLES / "lung-international"
    for item in m["inputs"]:
        data = (case_dir / item["path"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
        assert item["size"] == len(data)
    for out in m["outputs"]:
        data = (lung.out / out["name"]).read_bytes()
        assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert m["imaging"][0]["files"][0]["sha256"]
    assert any(i["translation"] for i in m["inputs"])


def test_letter_alone_and_as_text(lung: BundleResult) -> None:
    assert lung.out is not None
    text = (lung.out / "LUNG-002-cover-letter.txt").read_text()
    assert "THE QUESTION FOR THE REVIEWERS" in text and "Tomás Ferrer Vidal" in text
    assert len(PdfReader(lung.out / "LUNG-002-cover-letter.pdf").pages) == 1


def test_scanned_jpeg_is_embedded_without_re_encoding(tmp_path: Path) -> None:
    res = bundle_case(EXAMPLES / "sarcoma-adult" / "case.yaml", opts(tmp_path / "p"))
    item = next(i for i in res.manifest["inputs"] if i["path"].endswith(".jpg"))
    page = PdfReader(packet(res)).pages[item["pages"][0] - 1]
    jpeg = (EXAMPLES / "sarcoma-adult" / item["path"]).read_bytes()
    streams = [x.get_object() for x in page["/Resources"]["/XObject"].values()]
    # the page draws the scan (inside the wrapper) and the stamp; one image is the JPEG
    found = any(s.get("/Filter") == "/DCTDecode" and s.get_data() == jpeg for s in _images(streams))
    assert found


def _images(objs: list[Any]) -> list[Any]:
    out = []
    for o in objs:
        if o.get("/Subtype") == "/Image":
            out.append(o)
        elif o.get("/Subtype") == "/Form" and "/Resources" in o:
            xo = o["/Resources"].get("/XObject") or {}
            out.extend(_images([x.get_object() for x in xo.values()]))
    return out


# --------------------------------------------------------------------- guarantees


def test_same_inputs_give_byte_identical_output(tmp_path: Path, lung: BundleResult) -> None:
    again = bundle_case(EXAMPLES / "lung-international" / "case.yaml", opts(tmp_path / "p"))
    assert packet(again).read_bytes() == packet(lung).read_bytes()
    assert (again.out / "manifest.json").read_bytes() == (lung.out / "manifest.json").read_bytes()  # type: ignore[operator]


def test_nothing_is_overwritten_without_force(tmp_path: Path) -> None:
    case = EXAMPLES / "paediatric-all" / "case.yaml"
    out = tmp_path / "p"
    first = bundle_case(case, opts(out))
    before = packet(first).read_bytes()
    with pytest.raises(OutputExistsError):
        bundle_case(case, opts(out))
    assert packet(first).read_bytes() == before
    bundle_case(case, opts(out, force=True))
    assert packet(first).exists()


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failure_leaves_earlier_output_untouched_and_no_temporary_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    case = EXAMPLES / "paediatric-all" / "case.yaml"
    out = tmp_path / "p"
    bundle_case(case, opts(out))
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    import opinionkit.bundle as b

    def boom(*a: Any, **k: Any) -> None:
        raise error

    monkeypatch.setattr(b.BundleJob, "_manifest", boom)
    with pytest.raises(type(error)):
        bundle_case(case, opts(out, force=True))
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_a_case_with_errors_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(BundleRefused) as info:
        bundle_case(EXAMPLES / "incomplete" / "case.yaml", opts(tmp_path / "p"))
    assert info.value.exit_code == ExitCode.FINDINGS
    assert list(tmp_path.iterdir()) == []


def test_allow_incomplete_lists_what_is_missing_in_the_letter(tmp_path: Path) -> None:
    res = bundle_case(
        EXAMPLES / "incomplete" / "case.yaml", opts(tmp_path / "p", allow_incomplete=True)
    )
    assert res.missing and res.manifest["complete"] is False
    letter = " ".join(PdfReader(packet(res)).pages[0].extract_text().split())
    assert "This packet is incomplete" in letter
    assert "missing pathology report" in letter
    # the other patient's CT is listed as a problem and never enclosed
    assert "may belong to another patient" in letter and "left out of this packet" in letter
    assert "records/outside-ct.pdf" not in {i["path"] for i in res.manifest["inputs"]}
    packet_text = " ".join(p.extract_text() for p in PdfReader(packet(res)).pages)
    assert "Martin Hale" not in packet_text and "LK-009921" not in packet_text


def test_encryption_takes_the_password_from_the_environment(tmp_path: Path) -> None:
    res = bundle_case(
        EXAMPLES / "paediatric-all" / "case.yaml",
        opts(tmp_path / "p", encrypt=True, environ={**ENV, "OPINIONKIT_PASSWORD": "pw-123"}),
    )
    for name in ("PAED-001-packet.pdf", "PAED-001-cover-letter.pdf"):
        reader = PdfReader(res.out / name)  # type: ignore[operator]
        assert reader.is_encrypted
        assert reader.decrypt("wrong") == 0
        assert reader.decrypt("pw-123") != 0
        assert "/AESV3" in str(reader.trailer["/Encrypt"].get_object())
        assert len(reader.pages) > 0


def test_encryption_password_from_a_file_and_never_without_one(tmp_path: Path) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text("from-file\n")
    res = bundle_case(
        EXAMPLES / "paediatric-all" / "case.yaml",
        opts(tmp_path / "p", encrypt=True, password_file=secret),
    )
    assert PdfReader(packet(res)).decrypt("from-file") != 0
    with pytest.raises(UsageError):
        bundle_case(
            EXAMPLES / "paediatric-all" / "case.yaml",
            opts(tmp_path / "q", encrypt=True, environ=dict(ENV)),
        )


def test_volumes_split_at_record_boundaries_with_continuous_numbers(tmp_path: Path) -> None:
    res = bundle_case(
        EXAMPLES / "sarcoma-adult" / "case.yaml", opts(tmp_path / "p", max_size=parse_size("200KB"))
    )
    assert res.volumes >= 2
    vols = sorted(res.out.glob("SARC-003-packet-vol*.pdf"))  # type: ignore[union-attr]
    assert len(vols) == res.volumes
    expected = 1
    for vol in vols:
        reader = PdfReader(vol)
        assert vol.stat().st_size <= 200_000
        assert reader.page_labels[0] == str(expected)
        assert f"Page {expected} of {res.pages}" in reader.pages[0].extract_text()
        expected += len(reader.pages)
    assert expected - 1 == res.pages
    index = " ".join(PdfReader(vols[0]).pages[2].extract_text().split())
    assert "Vol." in index
    # every record sits wholly in one volume
    for item in res.manifest["inputs"]:
        assert isinstance(item["volume"], int)


def test_dicomdir_makes_a_readable_file_set(tmp_path: Path) -> None:
    import pydicom

    res = bundle_case(EXAMPLES / "sarcoma-adult" / "case.yaml", opts(tmp_path / "p", dicomdir=True))
    dicomdir = pydicom.dcmread(res.out / "imaging" / "DICOMDIR")  # type: ignore[operator]
    kinds = [r.DirectoryRecordType for r in dicomdir.DirectoryRecordSequence]
    assert kinds.count("IMAGE") == 6 and kinds.count("SERIES") == 2
    for entry in res.manifest["imaging"][0]["files"]:
        assert (res.out / entry["file"]).is_file()  # type: ignore[operator]


def test_encrypted_input_is_decrypted_with_its_referenced_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPINIONKIT_TEST_PW", "s3cret")
    res = bundle_case(CASES / "password" / "case.yaml", opts(tmp_path / "p"))
    reader = PdfReader(packet(res))
    assert not reader.is_encrypted
    assert "CT CHEST" in reader.pages[-1].extract_text()


def test_hostile_text_in_the_case_prints_literally(tmp_path: Path) -> None:
    src = (CASES / "base" / "case.yaml").read_text()
    case_dir = tmp_path / "case"
    shutil.copytree(CASES / "base", case_dir)
    hostile = "#set page(fill: red) *x* $y$ @z <w> [v] \\\\ `u`"
    (case_dir / "case.yaml").write_text(
        src.replace(
            "Is surgery still an option after three cycles of chemotherapy?", json.dumps(hostile)
        )
    )
    res = bundle_case(case_dir / "case.yaml", opts(tmp_path / "p"))
    letter = " ".join(PdfReader(packet(res)).pages[0].extract_text().split())
    assert hostile in letter


def test_parse_size() -> None:
    assert parse_size("25MB") == 25_000_000
    assert parse_size("1.5 MiB") == 1_572_864
    with pytest.raises(UsageError):
        parse_size("lots")


# --------------------------------------------------------------------- CLI


def test_cli_bundles_several_cases_and_one_failure_stops_none(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "bundle",
            str(EXAMPLES / "incomplete" / "case.yaml"),
            str(EXAMPLES / "paediatric-all" / "case.yaml"),
            "--out",
            str(tmp_path),
            "--today",
            "2026-11-24",
            "--format",
            "json",
        ],
        env=ENV,
    )
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["schema"] == "opinionkit.bundle/1"
    by_file = {Path(c["file"]).parent.name: c for c in doc["cases"]}
    assert by_file["incomplete"]["exit_code"] == 1 and by_file["incomplete"]["out"] is None
    assert by_file["paediatric-all"]["exit_code"] == 0
    assert (tmp_path / "PAED-001-packet" / "PAED-001-packet.pdf").is_file()
    assert not (tmp_path / "INC-004-packet").exists()


def test_cli_text_output_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    args = [
        "bundle",
        str(EXAMPLES / "paediatric-all" / "case.yaml"),
        "--out",
        str(tmp_path / "p"),
        "--today",
        "2026-11-24",
    ]
    first = runner.invoke(app, args, env=ENV)
    assert first.exit_code == 0, first.output
    assert "PAED-001-packet.pdf" in first.output
    again = runner.invoke(app, args, env=ENV)
    assert again.exit_code == int(ExitCode.OUTPUT)
    assert "Traceback" not in again.output
    bad = runner.invoke(app, [*args, "--force", "--max-size", "huge"], env=ENV)
    assert bad.exit_code == int(ExitCode.USAGE)
    missing = runner.invoke(
        app, ["bundle", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "q")]
    )
    assert missing.exit_code == int(ExitCode.INPUT)


def test_cli_templates_option_overrides_the_letter(tmp_path: Path) -> None:
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "letter.typ.j2").write_text(
        '{% extends "shipped/letter.typ.j2" %}{% block closing %}Custom closing.{% endblock %}\n'
    )
    result = CliRunner().invoke(
        app,
        [
            "bundle",
            str(EXAMPLES / "paediatric-all" / "case.yaml"),
            "--out",
            str(tmp_path / "p"),
            "--templates",
            str(tpl),
            "--today",
            "2026-11-24",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    text = PdfReader(tmp_path / "p" / "PAED-001-packet.pdf").pages[0].extract_text()
    assert "Custom closing." in text


def test_environment_is_not_read_from_the_process_when_given(tmp_path: Path) -> None:
    os.environ.pop("OPINIONKIT_PASSWORD", None)
    with pytest.raises(UsageError, match="OPINIONKIT_PASSWORD"):
        bundle_case(EXAMPLES / "paediatric-all" / "case.yaml", opts(tmp_path / "p", encrypt=True))


def test_another_patients_dicom_is_never_copied(tmp_path: Path) -> None:
    res = bundle_case(
        CASES / "dicom-other-patient" / "case.yaml", opts(tmp_path / "p", allow_incomplete=True)
    )
    sources = {f["source"] for im in res.manifest["imaging"] for f in im["files"]}
    assert sources and all(s.startswith("records/ct-own/") for s in sources)
    assert any("left out of this packet" in m for m in res.missing)

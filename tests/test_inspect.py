"""opinionkit.inspect: sniffing, bounded execution, identity evidence, DICOM summaries."""

from __future__ import annotations

import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opinionkit.errors import LimitExceeded
from opinionkit.inspect.dicom import inspect_dicom_folder
from opinionkit.inspect.filetype import FileKind, extension_matches, sniff, sniff_bytes
from opinionkit.inspect.identity import Identity, dates_in, dicom_evidence, text_evidence
from opinionkit.inspect.limits import Limits, run_limited, run_many

ADA = Identity("Ada Maria Testperson", date(1970, 5, 6), ("00123",))


# --- file types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", FileKind.PDF),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", FileKind.JPEG),
        (b"\x89PNG\r\n\x1a\n....", FileKind.PNG),
        (b"II*\x00\x08\x00", FileKind.TIFF),
        (b"MM\x00*\x00\x00", FileKind.TIFF),
        (b"\x00" * 128 + b"DICM" + b"\x02\x00", FileKind.DICOM),
        (b"PK\x03\x04rest", FileKind.ZIP),
        (b"\xef\xbb\xbf<!DOCTYPE html><html>", FileKind.HTML),
        (b"oops\n", FileKind.UNKNOWN),
        (b"", FileKind.EMPTY),
    ],
)
def test_sniff_goes_by_content(head: bytes, kind: FileKind) -> None:
    assert sniff_bytes(head).kind is kind


def test_sniff_finds_pdf_after_leading_junk(tmp_path: Path) -> None:
    path = tmp_path / "report.bin"
    path.write_bytes(b"X-Mailer: gateway\r\n\r\n%PDF-1.4\n%%EOF\n")
    got = sniff(path)
    assert got.kind is FileKind.PDF and got.leading_junk == 21
    assert not extension_matches(path, FileKind.PDF)
    assert extension_matches(tmp_path / "A.PDF", FileKind.PDF)


# --- bounded execution --------------------------------------------------------------------


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "done"


def _allocate(mb: int) -> int:
    block = bytearray(mb * 1024 * 1024)
    return len(block)


def _boom() -> None:
    raise ValueError("secret patient text")


def test_run_limited_returns_results() -> None:
    assert run_limited(_sleep, 0, limits=Limits(seconds=10)) == "done"


def test_run_limited_stops_a_hang() -> None:
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as info:
        run_limited(_sleep, 30, limits=Limits(seconds=0.5))
    assert info.value.what == "time"
    assert time.monotonic() - started < 10


def test_run_limited_caps_memory() -> None:
    with pytest.raises(LimitExceeded) as info:
        run_limited(_allocate, 2048, limits=Limits(seconds=20, memory_mb=256))
    assert info.value.what == "memory"
    assert run_limited(_allocate, 16, limits=Limits(seconds=20, memory_mb=256)) == 16 * 1024 * 1024


def test_run_limited_reports_only_the_exception_type() -> None:
    with pytest.raises(RuntimeError) as info:
        run_limited(_boom, limits=Limits())
    assert str(info.value) == "ValueError"  # never the message, which may quote file content


def _pid(_: int) -> int:
    return os.getpid()


def test_run_many_keeps_order_and_limits_each_job() -> None:
    """Workers take job after job; a job that hangs, runs out of memory or fails costs
    only its own result, and every later job still gets a worker and the full limits."""
    limits = Limits(seconds=1.5, memory_mb=256)
    jobs: list[tuple[object, tuple[object, ...]]] = [
        (_allocate, (16,)),
        (_sleep, (30,)),
        (_allocate, (2048,)),
        (_boom, ()),
        (_allocate, (128,)),
        *[(_sleep, (0,)) for _ in range(6)],
    ]
    started = time.monotonic()
    results = run_many(jobs, limits=limits, workers=2)  # type: ignore[arg-type]
    assert time.monotonic() - started < 10
    assert results[0] == 16 * 1024 * 1024
    assert isinstance(results[1], LimitExceeded) and results[1].what == "time"
    assert isinstance(results[2], LimitExceeded) and results[2].what == "memory"
    assert isinstance(results[3], RuntimeError) and str(results[3]) == "ValueError"
    assert results[4] == 128 * 1024 * 1024  # a worker's earlier jobs do not eat its budget
    assert results[5:] == ["done"] * 6


def test_run_many_reuses_its_workers() -> None:
    pids = run_many([(_pid, (i,)) for i in range(12)], limits=Limits(), workers=2)
    assert len(set(pids)) <= 2
    assert os.getpid() not in pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "\nState:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
def test_kept_workers_serve_later_calls_and_end_with_the_block() -> None:
    """Inside keep_workers() (a batch), a call's idle workers wait for the next call: the
    same processes serve every case, and they are gone once the block ends."""
    from opinionkit.inspect.limits import keep_workers

    with keep_workers():
        first = run_many([(_pid, (i,)) for i in range(4)], limits=Limits(), workers=2)
        later = [run_many([(_pid, (i,))], limits=Limits(), workers=2)[0] for i in range(3)]
        again = run_many([(_pid, (i,)) for i in range(4)], limits=Limits(), workers=2)
        assert set(later) <= set(first) and set(again) <= set(first) and len(set(first)) <= 2
        assert all(_alive(p) for p in set(first))
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in set(first)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in set(first))
    # outside the block every call has workers of its own again
    assert not set(run_many([(_pid, (i,)) for i in range(2)], limits=Limits())) & set(first)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")
def test_a_worker_that_failed_or_grew_is_never_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker whose job hung, ran out of memory or raised is never handed a later
    job; nor is one whose memory grew past the retirement threshold (its result still
    counts)."""
    from opinionkit.inspect import limits as limits_mod

    limits = Limits(seconds=1.5, memory_mb=256)
    with limits_mod.keep_workers():
        out = run_many([(_boom, ()), (_pid, (0,))], limits=limits, workers=1)
        assert isinstance(out[0], RuntimeError)
        survivor = out[1]
        assert run_many([(_pid, (1,))], limits=limits, workers=1) == [survivor]
    # (a worker reads the threshold it was forked with)
    monkeypatch.setattr(limits_mod, "_RETIRE_GROWTH", -(1 << 40))  # every job retires
    with limits_mod.keep_workers():
        pids = run_many([(_pid, (i,)) for i in range(3)], limits=limits, workers=1)
        pids += run_many([(_pid, (3,))], limits=limits, workers=1)
        assert len(set(pids)) == 4  # each job a fresh worker


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_a_fork_never_uses_its_parents_kept_workers() -> None:
    """A forked child inherits the variable that holds its parent's idle workers, never
    the right to use them: it starts its own."""
    from opinionkit.inspect.limits import keep_workers

    with keep_workers():
        mine = set(run_many([(_pid, (i,)) for i in range(2)], limits=Limits(), workers=2))
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child
            try:
                got = run_many([(_pid, (i,)) for i in range(2)], limits=Limits(), workers=2)
                os.write(write, b"ok" if not set(got) & mine else b"shared")
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(child, 0)
        assert os.read(read, 16) == b"ok"
        os.close(read)
        assert set(run_many([(_pid, (0,))], limits=Limits(), workers=2)) <= mine


# --- identity from text -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Patient: Ada Testperson  DOB: 1970-05-06  MRN: 00123",
        "TESTPERSON, ADA MARIA   D.O.B. 06/05/1970",
        "Name: Ada Testperson (born 6 May 1970)",
        "Date of birth: May 6, 1970",
        "Fecha de nacimiento: 6 de mayo de 1970  NHC: 123",
        "Geburtsdatum: 06.05.1970",
    ],
)
def test_the_patients_own_page_matches(text: str) -> None:
    ev = text_evidence(text, ADA)
    assert ev.verdict == "match", ev


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("Patient: Ada Testperson  DOB: 1958-12-11", "other_dobs"),
        ("Patient: Bruno Otherman  DOB: 11/12/1958  MRN: 77881", "other_names"),
        ("MRN: 77881  Chest CT, no comparison", "other_mrns"),
        ("Date of birth: 12 November 1958", "other_dobs"),
    ],
)
def test_another_patients_page_is_flagged(text: str, flag: str) -> None:
    ev = text_evidence(text, ADA)
    assert getattr(ev, flag), ev
    assert ev.verdict == "mismatch"


def test_an_unlisted_mrn_next_to_the_patients_name_and_dob_is_not_a_mismatch() -> None:
    ev = text_evidence("Patient: Ada Testperson DOB: 1970-05-06 MRN: 55555", ADA)
    assert ev.verdict == "match" and ev.unknown_mrns == {"55555"}
    # ...and a later page with only that MRN is accepted once it is known
    assert text_evidence("MRN: 55555 page 2", ADA, frozenset({"55555"})).verdict == "match"
    assert text_evidence("MRN: 55555 page 2", ADA).verdict == "mismatch"


def test_a_facility_mrn_beside_the_patients_name_alone_is_not_a_mismatch() -> None:
    assert text_evidence("Patient: Ada Testperson   MRN: 55555", ADA).verdict == "match"
    assert text_evidence("Patient: Bruno Otherman   MRN: 55555", ADA).verdict == "mismatch"


def test_dicom_with_the_right_name_and_an_imaging_centre_id_is_not_a_mismatch(
    tmp_path: Path,
) -> None:
    _write_dicom(tmp_path, "Testperson^Ada", "IMG-99", "", "7", 1)
    assert dicom_evidence(inspect_dicom_folder(tmp_path), ADA).verdict == "weak"
    # an empty name beside an unknown ID is unverified, never a mismatch (anonymisers
    # replace IDs); beside another name it is one of the fields that name someone else
    _write_dicom(tmp_path / "x", "", "IMG-99", "", "7", 1)
    assert dicom_evidence(inspect_dicom_folder(tmp_path / "x"), ADA).verdict == "none"
    _write_dicom(tmp_path / "y", "Otherman^Bruno", "IMG-99", "", "7", 1)
    ev = dicom_evidence(inspect_dicom_folder(tmp_path / "y"), ADA)
    assert (ev.verdict, ev.fields) == ("mismatch", ("PatientName", "PatientID"))


def test_unlabelled_dates_and_prose_are_not_identity_claims() -> None:
    ev = text_evidence("Biopsy on 2026-06-02. Patient: 54-year-old woman with cough.", ADA)
    assert ev.verdict == "none"


def test_ambiguous_day_month_dates_offer_both_readings() -> None:
    ((_, _, options),) = dates_in("05/06/1970")
    assert options == {date(1970, 6, 5), date(1970, 5, 6)}


@given(st.text(max_size=300))
def test_text_evidence_never_crashes(text: str) -> None:
    text_evidence(text, ADA)


# --- DICOM --------------------------------------------------------------------------------


def _write_dicom(folder: Path, name: str, pid: str, dob: str, series: str, n: int) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        uid = f"1.2.3.{series}.{i + 1}"
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3.1", f"1.2.3.{series}"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, pid, dob
        ds.StudyDate, ds.Modality, ds.StudyDescription = "20261030", "CT", "CT CHEST"
        ds.save_as(folder / f"{series}-{i}.dcm", enforce_file_format=True)


def test_dicom_folder_is_summarised(tmp_path: Path) -> None:
    _write_dicom(tmp_path / "cd", "Testperson^Ada", "00123", "19700506", "7", 3)
    _write_dicom(tmp_path / "cd" / "sub", "Testperson^Ada", "00123", "19700506", "8", 2)
    (tmp_path / "cd" / "AUTORUN.INF").write_text("[autorun]\n" * 20)
    folder = inspect_dicom_folder(tmp_path / "cd")
    assert folder.dicom_files == 5 and folder.non_dicom == ["AUTORUN.INF"]
    (study,) = folder.studies.values()
    assert (study.date, study.modalities, study.description) == (
        date(2026, 10, 30),
        ["CT"],
        "CT CHEST",
    )
    assert (study.series_count, study.image_count) == (2, 5)
    assert dicom_evidence(folder, ADA).verdict == "match"


def test_dicom_names_with_one_of_two_surnames_match(tmp_path: Path) -> None:
    tomas = Identity("Tomás Ferrer Vidal", date(1964, 8, 19), ("00482913",))
    _write_dicom(tmp_path, "FERRER^TOMAS", "00482913", "19640819", "7", 1)
    assert dicom_evidence(inspect_dicom_folder(tmp_path), tomas).verdict == "match"


def test_dicom_of_another_patient_is_a_mismatch(tmp_path: Path) -> None:
    _write_dicom(tmp_path, "Otherman^Bruno", "77881", "19581211", "7", 1)
    assert dicom_evidence(inspect_dicom_folder(tmp_path), ADA).verdict == "mismatch"


def test_anonymised_dicom_is_unverified(tmp_path: Path) -> None:
    _write_dicom(tmp_path, "", "", "", "7", 1)
    assert dicom_evidence(inspect_dicom_folder(tmp_path), ADA).verdict == "none"


def test_damaged_dicom_is_counted_not_raised(tmp_path: Path) -> None:
    _write_dicom(tmp_path, "Testperson^Ada", "00123", "19700506", "7", 1)
    good = next(tmp_path.glob("*.dcm")).read_bytes()
    (tmp_path / "broken.dcm").write_bytes(good[:200])
    folder = inspect_dicom_folder(tmp_path)
    assert folder.dicom_files + len(folder.unreadable) + len(folder.non_dicom) == 2


def test_identity_evidence_is_made_in_the_worker_that_read_the_pdf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """check's workers judge each page's identity where the text is (no second pass over
    the texts in the main process); the main process uses what they found."""
    import os
    from datetime import date

    from opinionkit.checks import files as files_mod
    from opinionkit.inspect.identity import Identity, record_evidence
    from opinionkit.inspect.limits import Limits
    from opinionkit.inspect.pdf import PDFIUM
    from pdfgen import case_head, report, write_text_pdf

    ada = Identity("Ada Maria Testperson", date(1970, 5, 6), ("00123",))
    other = report("Bea Otherperson", "1981-02-03", "99999", "CT chest report")
    pages = [*report("Ada Testperson", "1970-05-06", "00123", "CT chest report"), [" "], other[0]]
    path = write_text_pdf(tmp_path / "r.pdf", pages)
    read = files_mod._read_pdf(str(path), None, 30.0, ada, PDFIUM)
    texts = [t for t in read.info.page_texts if t.strip()]
    assert read.evidence == record_evidence(texts, ada)
    assert read.evidence[0].verdict == "match"
    assert read.evidence[-1].verdict == "mismatch"
    assert read.merge_problem is None

    from opinionkit.loading import load_case

    case_file = tmp_path / "case.yaml"
    case_file.write_text(
        case_head("T-1", "Ada Maria Testperson")
        + "  - {kind: pathology-report, title: P, date: 2026-01-01, source: X, file: r.pdf}\n",
        encoding="utf-8",
    )
    loaded = load_case(case_file)
    main = os.getpid()

    def only_in_workers(texts: Any, who: Any) -> Any:
        assert os.getpid() != main, "identity judged again in the main process"
        return record_evidence(texts, who)

    monkeypatch.setattr(files_mod, "record_evidence", only_in_workers)
    _, findings = files_mod.check_files(loaded, Limits())
    assert [f.code for f in findings if f.code.startswith("identity")] == ["identity.mismatch"]

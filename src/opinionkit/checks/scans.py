"""Whose each scanned page is: OCR of image-only pages, after the files were read.

Called by :class:`opinionkit.checks.files._FileChecker` when OCR is on (``--ocr``):

1. **Plan**: a PDF's pages without text (that decode) and every page of a JPEG, PNG or
   TIFF record. A file whose verdicts are in the case folder's cache
   (:mod:`opinionkit.inspect.ocrcache`) is not read again -- unless the lines are wanted
   for the packet's text layer.
2. **Read**: one job per page in the same bounded workers as every other inspection
   (:func:`~opinionkit.inspect.limits.run_many`; each page within ``--timeout``, and
   ``--memory-mb`` on top of the engine's own address space,
   :data:`~opinionkit.inspect.ocr.OCR_ENGINE_MB`), as many workers as the cores *and* the memory allow
   (:data:`~opinionkit.inspect.ocr.OCR_WORKER_MB` each).
3. **Record**: MRNs printed on pages that name the patient are the patient's on the
   record's other pages too (as for text); the verdicts go into :attr:`FileInfo.ocr`
   and the cache, the lines (when wanted) into :attr:`FileInfo.ocr_lines`.

:func:`judge_scans` turns the verdicts into findings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opinionkit.errors import LimitExceeded
from opinionkit.findings import Severity
from opinionkit.inspect.filetype import FileKind
from opinionkit.inspect.limits import run_many, worker_count
from opinionkit.inspect.ocr import (
    OCR_ENGINE_MB,
    OCR_WORKER_MB,
    PageOcr,
    PageVerdict,
    identity_key,
    model_paths,
    read_page,
)
from opinionkit.inspect.ocrcache import OcrCache

if TYPE_CHECKING:
    from opinionkit.checks.files import _FileChecker, _Slot

__all__ = ["judge_scans", "ocr_workers", "read_scans"]

READ_AGAIN = frozenset({"failed"})
"""Verdicts never cached (the next run tries again)."""


def _available_mb() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def ocr_workers(jobs: int) -> int:
    """One OCR worker per core (per ``--jobs`` budget), no more than the available memory holds at
    :data:`OCR_WORKER_MB` each, no more than there are pages. Each worker runs the
    engine on one thread: the CPU-time limit of a job (``--timeout``) then means wall
    time on a free core, and the pages, not the threads, share the cores."""
    workers = worker_count()
    mb = _available_mb()
    if mb is not None:
        workers = min(workers, max(1, mb // OCR_WORKER_MB))
    return max(1, min(workers, jobs))


@dataclass
class _Plan:
    slots: list[_Slot]
    sha256: str
    kind: str
    path: str
    password: str | None
    pages: list[int]
    learned: frozenset[str]
    """MRNs from the file's text pages that name the patient."""


def _plan(checker: _FileChecker, slot: _Slot) -> tuple[str, _Plan] | None:
    from opinionkit.checks.files import SCANS, _PdfRead

    fi, result = slot.info, slot.result
    assert fi.path is not None
    if fi.kind is FileKind.PDF and isinstance(result, _PdfRead):
        info = result.info
        if not info.opened or not info.pages or info.limit:
            return None
        if info.needs_password and not info.password_ok:
            return None
        bad = set(info.bad_pages)
        pages = [
            n
            for n, text in enumerate(info.page_texts, start=1)
            if not text.strip() and n not in bad
        ]
        learned: frozenset[str] = frozenset().union(
            *(ev.unknown_mrns for ev in result.evidence if ev.name or ev.dob)
        )
        password = fi.password if info.encrypted else None
        return result.sha256, _Plan(
            [slot], result.sha256, "pdf", str(fi.path), password, pages, learned
        )
    if fi.kind in SCANS and isinstance(result, tuple):
        sha, image = result
        if image.error or image.limit:
            return None
        pages = list(range(1, max(1, image.frames) + 1))
        return sha, _Plan([slot], sha, "image", str(fi.path), None, pages, frozenset())
    return None


def read_scans(checker: _FileChecker, slots: list[_Slot]) -> None:
    """OCR every image-only page of ``slots`` not in the cache; fill ``FileInfo.ocr``."""
    plans: dict[str, _Plan] = {}
    cache: OcrCache | None = None  # made at the first page to read: most cases have none
    for slot in slots:
        planned = _plan(checker, slot)
        if planned is None:
            continue
        sha, plan = planned
        if not plan.pages:
            continue
        if cache is None:
            cache = OcrCache(checker.case_dir, identity_key(checker.who))
        if sha in plans:  # the same file twice (a duplicate record): read once
            plans[sha].slots.append(slot)
            continue
        if not checker.ocr_lines:
            cached = cache.get(sha)
            if cached is not None and set(plan.pages) <= set(cached):
                slot.info.ocr = {n: cached[n] for n in plan.pages}
                continue
        plans[sha] = plan
    if not plans or cache is None:
        return
    model_paths()  # a missing model is an error (exit 3) before any worker starts
    jobs: list[tuple[Any, tuple[Any, ...]]] = []
    owners: list[tuple[_Plan, int]] = []
    count = sum(len(p.pages) for p in plans.values())
    workers = ocr_workers(count)
    for plan in plans.values():
        for n in plan.pages:
            args = (plan.path, plan.kind, n - 1, plan.password, checker.who)
            jobs.append((read_page, (*args, checker.ocr_lines, 1)))
            owners.append((plan, n))
    limits = dataclasses.replace(checker.limits, memory_mb=checker.limits.memory_mb + OCR_ENGINE_MB)
    done = run_many(jobs, limits=limits, workers=workers)
    read: dict[str, dict[int, Any]] = {}
    for (plan, n), result in zip(owners, done, strict=True):
        read.setdefault(plan.sha256, {})[n] = result
    for sha, plan in plans.items():
        _record(cache, plan, read[sha], checker.ocr_lines)


def _failure(result: Any) -> PageVerdict:
    """A page OCR could not read: the limit it hit named ("time (30 s)"), else "reader"."""
    if isinstance(result, LimitExceeded):
        return PageVerdict("failed", (f"{result.what} ({result.limit})",))
    return PageVerdict("failed", ("reader",))


def _record(cache: OcrCache, plan: _Plan, results: dict[int, Any], want_lines: bool) -> None:
    learned = set(plan.learned)
    for result in results.values():
        if isinstance(result, PageOcr) and result.verdict.names_patient:
            learned |= result.verdict.unknown_mrns
    verdicts: dict[int, PageVerdict] = {}
    lines = {}
    for n, result in sorted(results.items()):
        if not isinstance(result, PageOcr):
            verdicts[n] = _failure(result)
            continue
        v = result.verdict
        if v.verdict == "mismatch" and v.kinds == ("MRN",) and v.unknown_mrns <= learned:
            v = PageVerdict("match")  # the facility's own number, printed beside the name
        verdicts[n] = PageVerdict(v.verdict, v.kinds)
        if want_lines and result.lines is not None:
            lines[n] = result.lines
    if not any(v.verdict in READ_AGAIN for v in verdicts.values()):
        cache.put(plan.sha256, verdicts)
    for slot in plan.slots:
        slot.info.ocr = dict(verdicts)
        slot.info.ocr_lines = dict(lines)


# --------------------------------------------------------------------------- findings


def judge_scans(checker: _FileChecker, slot: _Slot) -> None:
    """Findings from the OCR verdicts of ``slot``'s scanned pages. Pages are numbered as
    ``withhold:`` numbers them (across the record's files); pages it leaves out are not
    judged again, and another patient's page among them is only noted."""
    from opinionkit.checks.files import _WITHHOLD_HINT, _and, page_ranges

    fi = slot.info
    assert fi.ocr is not None
    first = checker.page_offset(slot)
    by: dict[str, list[int]] = {}
    kinds: set[str] = set()
    failed: set[str] = set()
    for n, v in sorted(fi.ocr.items()):
        verdict = v.verdict
        if n in fi.withheld_pages:
            if verdict != "mismatch":
                continue
            verdict = "mismatch-withheld"
        by.setdefault(verdict, []).append(first + n)
        if verdict == "mismatch":
            kinds.update(v.kinds)
        if verdict == "failed":
            failed.update(v.kinds)
    if by.get("mismatch-withheld"):
        checker.finding(
            fi,
            "identity.mismatch-withheld",
            Severity.INFO,
            f"scanned page(s) {page_ranges(by['mismatch-withheld'])} of the record show, read "
            "with OCR, another patient; withhold: leaves them out of the packet",
        )
    if by.get("mismatch"):
        checker.finding(
            fi,
            "identity.mismatch",
            Severity.ERROR,
            f"scanned page(s) {page_ranges(by['mismatch'])} of the record show, read with OCR, "
            f"a different {_and(kinds)} than the patient's: this record may belong to another "
            "patient",
            _WITHHOLD_HINT,
        )
    if by.get("none"):
        checker.unverified(
            slot,
            "identity.not-verifiable",
            f"scanned page(s) {page_ranges(by['none'])} show, read with OCR, neither the "
            "patient's name, date of birth nor MRN, so whose they are cannot be verified",
            "look at those pages and confirm they belong to the patient",
        )
    if by.get("conflict"):
        checker.unverified(
            slot,
            "identity.not-verifiable",
            f"scanned page(s) {page_ranges(by['conflict'])} name the patient but show, as "
            "OCR read them, a different date of birth or MRN (perhaps a misread digit)",
            "look at those pages and confirm they belong to the patient",
        )
    if by.get("failed"):
        checker.unverified(
            slot,
            "identity.not-verifiable",
            f"reading scanned page(s) {page_ranges(by['failed'])} with OCR failed or exceeded "
            f"the {', '.join(sorted(failed))} limit, so whose they are cannot be verified",
            "look at those pages yourself, or raise --timeout / --memory-mb",
        )
    if by.get("match"):
        checker.finding(
            fi,
            "identity.ocr-verified",
            Severity.INFO,
            f"scanned page(s) {page_ranges(by['match'])}, read with OCR, name the patient",
        )
        if not by.get("mismatch") and fi.identity_status is None:
            fi.identity_status = "verified"
        fi.evidence = tuple(sorted({*fi.evidence, "ocr"}))

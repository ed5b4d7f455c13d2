"""Reading scanned pages (OCR) to say whose they are, and to give the packet a text layer.

An optional extra (``pip install 'opinionkit[ocr]'``): `rapidocr`_ with ONNX Runtime.
Its wheel ships the PP-OCR models (detection, orientation, recognition; the
recognition model reads Chinese and Latin scripts with accents, its character list
inside the ONNX file). They are loaded from their paths inside the installed package,
never by name: a missing model is :class:`~opinionkit.errors.OcrModelMissing`, and
rapidocr's downloader is disabled while the engine starts, so nothing is ever fetched.

Public API::

    available() -> bool                              # is the extra installed?
    ocr_image(image, *, threads=1) -> OcrPage        # one page image (PIL)
    page_image(pdf_path, index, password) -> image   # a PDF page, rendered at OCR_DPI
    judge_page(page, who) -> PageVerdict             # verified / another patient / ...
    read_page(source, ...) -> PageOcr                # a worker job: render, OCR, judge

The top :data:`TOP_FRACTION` of a page is read first (where letterheads and patient
labels are) and the whole page only when the top says nothing; a page read for the
packet's text layer is read whole at once. Uncertain OCR is never proof of another
patient: only lines read with a score of at least :data:`CONFIDENT` can show a different
patient, and a page that also names the patient is "not verifiable", not "another
patient". The recognised text stays in memory: only verdicts are ever cached.

.. _rapidocr: https://pypi.org/project/rapidocr/
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opinionkit.errors import OcrModelMissing
from opinionkit.inspect.identity import Identity, TextEvidence, text_evidence

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = [
    "CONFIDENT",
    "OCR_DPI",
    "OCR_ENGINE_MB",
    "OCR_WORKER_MB",
    "TOP_FRACTION",
    "OcrLine",
    "OcrPage",
    "PageOcr",
    "PageVerdict",
    "available",
    "engine_tag",
    "judge_page",
    "ocr_image",
    "page_image",
    "read_page",
]

OCR_DPI = 200
"""Resolution image-only PDF pages are rendered at (the scans' own is rarely higher)."""
TOP_FRACTION = 0.3
"""The part of a page read first."""
DET_LIMIT = 1280
"""Text detection sees the image with its longest side at most this many pixels
(measured: still reads name, date of birth and MRN at 150-200 dpi; 2-3x faster than
the page's full size)."""
MAX_SIDE = 2600
"""Larger images (phone photos) are scaled down to this longest side before OCR."""
CONFIDENT = 0.85
"""A line read with a lower score never shows another patient."""
OCR_WORKER_MB = 1536
"""Memory one OCR worker needs (peak resident size measured 0.63 GB on a fax page and
1.25 GB on a dense page of small print):
the number of OCR workers is bounded by the memory available as well as by the cores."""

OCR_ENGINE_MB = 1536
"""Address space the engine itself takes (measured: 1.6-1.7 GB of address space at its
peak, of which ~0.7 GB resident), granted to an OCR job on top of ``--memory-mb``."""

_MODELS = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
}
"""The models shipped in rapidocr's wheel (``rapidocr/models/``)."""


def available() -> bool:
    """Whether the OCR extra is installed (nothing is imported)."""
    return all(importlib.util.find_spec(m) is not None for m in ("rapidocr", "onnxruntime"))


def engine_tag() -> str:
    """What a cached verdict depends on besides the file and the patient: the engine's
    versions and this module's settings (a change invalidates the cache)."""
    parts = [f"{m}={_version(m)}" for m in ("rapidocr", "onnxruntime")]
    parts.append(f"dpi={OCR_DPI},top={TOP_FRACTION},det={DET_LIMIT},conf={CONFIDENT}")
    return ";".join(parts)


def _version(dist: str) -> str:
    from importlib import metadata  # ~0.02 s to import: only when a scan is read

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def model_paths() -> dict[str, Path]:
    """The model files inside the installed rapidocr package (raises
    :class:`OcrModelMissing` naming a missing one)."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or spec.origin is None:
        raise OcrModelMissing("rapidocr")
    root = Path(spec.origin).parent / "models"
    paths = {task: root / name for task, name in _MODELS.items()}
    for name, path in paths.items():
        if not path.is_file():
            raise OcrModelMissing(f"{name} model {path.name}")
    return paths


# --------------------------------------------------------------------------- the engine

_ENGINE: dict[int, Any] = {}
"""One engine per process and thread count (a worker starts it once, ~1-2 s)."""


def _no_download(*_args: Any, **_kwargs: Any) -> None:
    raise OcrModelMissing("a model rapidocr tried to download")


def engine(threads: int = 1) -> Any:
    """The OCR engine, started from the models' explicit paths."""
    if threads in _ENGINE:
        return _ENGINE[threads]
    paths = model_paths()
    import logging

    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    from rapidocr import RapidOCR
    from rapidocr.utils import download_file

    # Belt and braces: with explicit model paths rapidocr has nothing to fetch; if a
    # future version still tries, it fails here instead of reaching the network.
    download_file.DownloadFile.run = staticmethod(_no_download)  # type: ignore[method-assign]
    params: dict[str, Any] = {
        "Global.log_level": "error",
        "Global.use_cls": False,  # scans are upright; the pages' rotation is in the PDF
        "Det.model_path": str(paths["Det"]),
        "Cls.model_path": str(paths["Cls"]),
        "Rec.model_path": str(paths["Rec"]),
        "Det.limit_side_len": DET_LIMIT,
        "Det.limit_type": "max",
        "EngineConfig.onnxruntime.intra_op_num_threads": threads,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    _ENGINE[threads] = RapidOCR(params=params)
    return _ENGINE[threads]


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class OcrLine:
    text: str = field(repr=False)
    box: tuple[float, float, float, float]
    """(left, top, right, bottom) as fractions of the page's width and height, from its
    top-left corner (the page as displayed)."""
    score: float


@dataclass(frozen=True)
class OcrPage:
    lines: tuple[OcrLine, ...] = ()
    whole: bool = True
    """Whether the whole page was read (else only its top)."""

    def text(self, min_score: float = 0.0) -> str:
        return "\n".join(line.text for line in self.lines if line.score >= min_score)


def _prepared(image: Image) -> Image:
    from PIL import Image as PILImage

    if image.mode not in ("L", "RGB"):
        image = image.convert("L")
    longest = max(image.size)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.LANCZOS)
    return image.convert("RGB")


def _blank(image: Image) -> bool:
    """Nothing dark on the page (a blank or near-blank scan): nothing to read."""
    low = image.convert("L").getextrema()[0]
    return isinstance(low, int | float) and low > 160


def ocr_image(image: Image, *, threads: int = 1, top: float | None = None) -> OcrPage:
    """Read one page image; ``top`` reads only that fraction of it (from the top)."""
    image = _prepared(image)
    width, height = image.size
    region = image
    if top is not None:
        region = image.crop((0, 0, width, max(1, round(height * top))))
    if _blank(region):
        return OcrPage((), top is None)
    out = engine(threads)(region)
    lines: list[OcrLine] = []
    if out.boxes is not None and out.txts:
        for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            xs = [float(p[0]) for p in box]
            ys = [float(p[1]) for p in box]
            lines.append(
                OcrLine(
                    str(text),
                    (
                        max(0.0, min(xs) / width),
                        max(0.0, min(ys) / height),
                        min(1.0, max(xs) / width),
                        min(1.0, max(ys) / height),
                    ),
                    float(score),
                )
            )
    return OcrPage(tuple(lines), top is None)


def page_image(pdf_path: str, index: int, password: str | None = None) -> Image:
    """Render page ``index`` (0-based) of a PDF at :data:`OCR_DPI`, in grey."""
    import pypdfium2 as pdfium  # type: ignore[import-untyped]

    doc = pdfium.PdfDocument(pdf_path, password=password)
    try:
        page = doc[index]
        bitmap = page.render(scale=OCR_DPI / 72, grayscale=True)
        image: Image = bitmap.to_pil()
        page.close()
        return image
    finally:
        doc.close()


def frame_image(path: str, frame: int) -> Image:
    """Frame ``frame`` of a scanned image file, turned as it is displayed."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(path) as img:
        img.seek(frame)
        img.load()
        shown = ImageOps.exif_transpose(img) if frame == 0 else img.copy()
        return shown.convert("L") if shown.mode in ("1", "P", "I;16", "I", "F") else shown


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class PageVerdict:
    verdict: str
    """"match" (verified), "mismatch" (another patient's), "none" (not verifiable),
    "conflict" (names the patient and, as read, someone else: not verifiable),
    "blank" (nothing to read)."""
    kinds: tuple[str, ...] = ()
    """For "mismatch": which of "patient name", "date of birth", "MRN" differ."""
    names_patient: bool = False
    """The patient's name or date of birth was read (its MRNs count for the record)."""
    unknown_mrns: frozenset[str] = field(default=frozenset(), repr=False)
    """Normalised MRNs read after an MRN label that are not the case's (in memory only,
    to accept a facility's own number printed on pages that name the patient)."""


def _kinds(ev: TextEvidence) -> tuple[str, ...]:
    return tuple(
        k
        for k, flag in (
            ("patient name", ev.other_names),
            ("date of birth", ev.other_dobs),
            ("MRN", ev.other_mrns),
        )
        if flag
    )


def judge_page(page: OcrPage, who: Identity) -> PageVerdict:
    """Whose page this is, by the identity rules, counting only confident lines as
    evidence of another patient."""
    if not page.lines:
        return PageVerdict("blank" if page.whole else "none")
    seen = text_evidence(page.text(), who)
    sure = text_evidence(page.text(CONFIDENT), who)
    names = seen.name or seen.dob
    kinds = _kinds(sure)
    if kinds:
        if sure.name and not sure.other_names:
            # The patient's name, and a date of birth or MRN as read that is not theirs:
            # more likely a misread digit than another patient -- a person looks.
            return PageVerdict("conflict", kinds, names, seen.unknown_mrns)
        return PageVerdict("mismatch", kinds, names, sure.unknown_mrns)
    if seen.name or seen.dob or seen.mrn:
        return PageVerdict("match", (), names, seen.unknown_mrns)
    return PageVerdict("none", (), False, seen.unknown_mrns)


@dataclass(frozen=True)
class PageOcr:
    """What a worker read of one page: its verdict, and its lines when asked for."""

    verdict: PageVerdict
    lines: tuple[OcrLine, ...] | None = field(default=None, repr=False)


def read_page(
    source: str,
    kind: str,
    index: int,
    password: str | None,
    who: Identity,
    want_lines: bool,
    threads: int = 1,
) -> PageOcr:
    """A bounded worker's job: render (``kind`` "pdf") or load (``kind`` "image", frame
    ``index``) one page, read it -- the top first unless ``want_lines`` -- and judge it."""
    image = page_image(source, index, password) if kind == "pdf" else frame_image(source, index)
    if not want_lines:
        top = ocr_image(image, threads=threads, top=TOP_FRACTION)
        verdict = judge_page(top, who)
        if verdict.verdict in ("match", "mismatch", "conflict"):
            return PageOcr(verdict)
    page = ocr_image(image, threads=threads)
    return PageOcr(judge_page(page, who), page.lines if want_lines else None)


def identity_key(who: Identity) -> str:
    """A hash of the patient's identity and the engine (for the cache key: no values)."""
    # every field, so that name forms added to Identity later count too
    data = json.dumps(dataclasses.asdict(who), default=str, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{data}|{engine_tag()}".encode()).hexdigest()

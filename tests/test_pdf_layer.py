"""The pdf/ layer: merge, stamp, labels, bookmarks, links, determinism, images, atomic writes.

PDFs are checked by structure with pypdf. Checks that need ``pdftoppm`` (rendering) skip
when it is not installed; everything else stands alone (corpus files are optional).
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pikepdf
import pytest
import typst
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, FloatObject, NameObject, RectangleObject

from opinionkit.errors import InputError, OutputExistsError
from opinionkit.pdf import AtomicDir, Part, StampSpec, assemble, atomic_write, images_to_pdf
from opinionkit.pdf.stamp import STAMP_HEIGHT
from pdfgen import lzw_zero_runs, outline_rows, serialize

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "pdf"
LEFT = "Jane Doe · DOB 2012-03-04 · Case DOE-001"
META = {"Title": "Second-opinion packet", "CreationDate": "D:20240301120000Z"}


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus file {name} not available")
    return path


def blank_pdf(
    specs: list[tuple[float, float, int]],
    *,
    crop: tuple[float, float, float, float] | None = None,
    media_origin: tuple[float, float] = (0, 0),
) -> bytes:
    """Pages of (width, height, /Rotate), optionally with an offset MediaBox and a CropBox."""
    writer = PdfWriter()
    for w, h, rot in specs:
        page = writer.add_blank_page(w, h)
        ox, oy = media_origin
        page.mediabox = RectangleObject([ox, oy, ox + w, oy + h])
        if crop is not None:
            page.cropbox = RectangleObject(list(crop))
        if rot:
            page[NameObject("/Rotate")] = FloatObject(rot) if rot % 1 else type_int(rot)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def type_int(v: int) -> object:
    from pypdf.generic import NumberObject

    return NumberObject(v)


def build(parts: list[Part], **kw: object) -> tuple[bytes, object]:
    buf = io.BytesIO()
    kw.setdefault("stamp", StampSpec(LEFT))
    kw.setdefault("metadata", META)
    result = assemble(parts, out=buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue(), result


def stamp_matrix(page: object) -> tuple[float, ...]:
    """The cm operands our tail stream uses to place the stamp (last content stream)."""
    contents = page["/Contents"]  # type: ignore[index]
    tail = contents[-1].get_object().get_data().decode()
    m = re.search(r"q ([-\d. ]+) cm /OkStamp\d* Do Q", tail)
    assert m, tail
    return tuple(float(v) for v in m.group(1).split())


def to_visual(page: object, x: float, y: float) -> tuple[float, float]:
    """User space -> visual space (origin bottom-left of the page as displayed)."""
    crop = page.cropbox  # type: ignore[attr-defined]
    x0, y0, x1, y1 = float(crop.left), float(crop.bottom), float(crop.right), float(crop.top)
    rot = int(page.get("/Rotate", 0)) % 360  # type: ignore[attr-defined]
    if rot == 90:
        return y - y0, x1 - x
    if rot == 180:
        return x1 - x, y1 - y
    if rot == 270:
        return y1 - y, x - x0
    return x - x0, y - y0


def visual_size(page: object) -> tuple[float, float]:
    crop = page.cropbox  # type: ignore[attr-defined]
    w, h = float(crop.width), float(crop.height)
    return (h, w) if int(page.get("/Rotate", 0)) % 180 == 90 else (w, h)  # type: ignore[attr-defined]


def assert_stamp_at_visual_bottom(page: object) -> None:
    a, b, c, d, e, f = stamp_matrix(page)
    vw, vh = visual_size(page)
    # stamp space: width = visual width / scale, height STAMP_HEIGHT
    scale = (a * a + b * b) ** 0.5
    sw = vw / scale
    corners = [
        to_visual(page, a * u + c * v + e, b * u + d * v + f)
        for u, v in ((0, 0), (sw, 0), (0, STAMP_HEIGHT), (sw, STAMP_HEIGHT))
    ]
    (x00, y00), (x10, y10), (x01, y01), _ = corners
    assert abs(x00) < 0.01 and abs(y00) < 0.01, "stamp origin at visual bottom-left"
    assert abs(x10 - vw) < 0.01 and abs(y10) < 0.01, "stamp x axis along visual bottom, rightwards"
    assert abs(x01) < 0.01 and 0 < y01 <= max(STAMP_HEIGHT * scale, 1) + 0.01, "upright"
    assert y01 < vh


# --------------------------------------------------------------------------- merge


def test_merge_counts_ranges_and_stamp_text() -> None:
    parts = [
        Part("Letter", None, blank_pdf([(595, 842, 0)] * 2)),
        Part("Report A", "Pathology", blank_pdf([(612, 792, 0)] * 3)),
        Part("Scan B", "Imaging", blank_pdf([(842, 595, 0)] * 2)),
    ]
    data, result = build(parts)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 7
    assert [p.pages for p in result.parts] == [range(1, 3), range(3, 6), range(6, 8)]  # type: ignore[attr-defined]
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"Page {i} of 7" in text
        assert LEFT in text


def test_existing_content_is_wrapped_not_rewritten() -> None:
    src = blank_pdf([(612, 792, 0)])
    reader = PdfReader(io.BytesIO(src))
    writer = PdfWriter(clone_from=reader)
    page = writer.pages[0]
    from pypdf.generic import DecodedStreamObject

    content = DecodedStreamObject()
    content.set_data(b"q q 2 0 0 2 100 100 cm 0 0 1 rg")  # unbalanced q, CTM changed
    page[NameObject("/Contents")] = writer._add_object(content)
    buf = io.BytesIO()
    writer.write(buf)
    data, _ = build([Part("Odd", None, buf.getvalue())])
    out = PdfReader(io.BytesIO(data)).pages[0]
    streams = out["/Contents"]
    assert isinstance(streams, ArrayObject) and len(streams) == 3
    assert streams[0].get_object().get_data().strip() == b"q"
    assert streams[1].get_object().get_data() == b"q q 2 0 0 2 100 100 cm 0 0 1 rg"
    assert streams[2].get_object().get_data().lstrip().startswith(b"Q")


def test_volume_numbering_and_page_labels() -> None:
    parts = [Part("R", "Labs", blank_pdf([(612, 792, 0)] * 3))]
    data, result = build(parts, first_page_number=413, total_pages=812)
    reader = PdfReader(io.BytesIO(data))
    assert reader.page_labels == ["413", "414", "415"]
    assert "Page 414 of 812" in reader.pages[1].extract_text()
    assert result.parts[0].pages == range(413, 416)  # type: ignore[attr-defined]


def test_bates_numbers() -> None:
    data, _ = build(
        [Part("R", None, blank_pdf([(612, 792, 0)] * 2))],
        stamp=StampSpec(LEFT, bates_prefix="DOE", bates_start=37),
    )
    reader = PdfReader(io.BytesIO(data))
    assert "DOE000038" in reader.pages[1].extract_text()


def test_bookmarks_groups_in_first_appearance_order() -> None:
    one = blank_pdf([(612, 792, 0)])
    parts = [
        Part("Cover letter", None, one),
        Part("Biopsy", "Pathology", blank_pdf([(612, 792, 0)] * 2)),
        Part("CT report", "Imaging", one),
        Part("Resection", "Pathology", one),
    ]
    data, result = build(parts)
    reader = PdfReader(io.BytesIO(data))
    outline = reader.outline
    titles = [o.title for o in outline if not isinstance(o, list)]
    assert titles == ["Cover letter", "Pathology", "Imaging"]
    pathology_children = outline[2]
    assert isinstance(pathology_children, list)
    assert [o.title for o in pathology_children] == ["Biopsy", "Resection"]
    assert [reader.get_destination_page_number(o) for o in pathology_children] == [1, 4]
    assert reader.get_destination_page_number(outline[1]) == 1
    assert "Pathology/Biopsy" in result.bookmarks  # type: ignore[attr-defined]


def test_the_packet_opens_with_its_bookmarks_and_title_shown() -> None:
    data, _ = build([Part("R", "Labs", blank_pdf([(612, 792, 0)]))])
    root = PdfReader(io.BytesIO(data)).trailer["/Root"]
    assert root["/PageMode"] == "/UseOutlines"
    assert root["/ViewerPreferences"]["/DisplayDocTitle"].value is True


def test_metadata_and_no_patient_data_by_default() -> None:
    data, _ = build([Part("R", None, blank_pdf([(612, 792, 0)]))])
    info = PdfReader(io.BytesIO(data)).metadata
    assert info is not None
    assert info["/Title"] == META["Title"]
    assert info["/Producer"].startswith("opinionkit ")
    assert "Jane" not in repr(dict(info))


def test_deterministic_output() -> None:
    parts = [Part("R", "Labs", blank_pdf([(612, 792, 90), (595, 842, 0)]))]
    first, r1 = build(parts)
    second, r2 = build(parts)
    assert first == second
    assert r1.document_id == r2.document_id  # type: ignore[attr-defined]
    trailer_id = PdfReader(io.BytesIO(first)).trailer["/ID"]
    assert _raw(trailer_id[0]).hex() == r1.document_id  # type: ignore[attr-defined]
    third, _ = build(parts, stamp=StampSpec("Someone Else"))
    assert PdfReader(io.BytesIO(third)).trailer["/ID"][0] != trailer_id[0]


def test_encrypted_output_needs_password() -> None:
    data, _ = build([Part("R", None, blank_pdf([(612, 792, 0)]))], encrypt_password="s3cret")
    reader = PdfReader(io.BytesIO(data))
    assert reader.is_encrypted
    assert not reader.decrypt("wrong")
    reader = PdfReader(io.BytesIO(data))
    assert reader.decrypt("s3cret")
    assert "Page 1 of 1" in reader.pages[0].extract_text()
    assert "/AESV3" in repr(reader.trailer["/Encrypt"].get_object())


def test_encrypted_source_and_wrong_password(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank_pdf([(612, 792, 0)]))))
    writer.encrypt("pw", algorithm="AES-256")
    path = tmp_path / "locked.pdf"
    writer.write(path)
    data, _ = build([Part("Locked", None, path, password="pw")])
    assert len(PdfReader(io.BytesIO(data)).pages) == 1
    with pytest.raises(InputError, match=re.escape("locked.pdf")):
        build([Part("Locked", None, path, password="nope")])
    with pytest.raises(InputError, match="password"):
        build([Part("Locked", None, path)])


def test_output_hash_and_size_are_those_of_the_written_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib

    assemble_module = importlib.import_module("opinionkit.pdf.assemble")
    monkeypatch.setattr(assemble_module._HashingSink, "CHUNK", 1000)  # many chunks
    data, result = build([Part("R", None, blank_pdf([(612, 792, 0)] * 5))] * 3)
    assert len(data) > 10_000
    assert result.size == len(data)  # type: ignore[attr-defined]
    assert result.sha256 == hashlib.sha256(data).hexdigest()  # type: ignore[attr-defined]


def _sink_digest(path: Path, blocks: list[bytes], *, kill_child: bool = False) -> tuple[str, bool]:
    assemble_module = importlib.import_module("opinionkit.pdf.assemble")
    fd = os.open(path, os.O_WRONLY)  # write-only, as bundle opens the packet
    os.lseek(fd, 0, os.SEEK_END)
    with os.fdopen(fd, "wb", buffering=0) as raw:
        sink = assemble_module._HashingSink(raw)
        forked = sink._child is not None
        for block in blocks:
            sink.write(block)
        if kill_child and sink._child is not None:
            os.kill(sink._child._pid, 9)
        return sink.finish(), forked


@pytest.mark.parametrize("kill_child", [False, True])
def test_packet_hash_from_a_forked_reader_matches_the_bytes(
    tmp_path: Path, kill_child: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file output is hashed by a forked child reading it back as it grows; the digest
    covers exactly the bytes written by this call (not what the file held before), and
    a failed child means the bytes are read back and hashed here instead."""
    target = tmp_path / "packet.pdf"
    target.write_bytes(b"earlier bytes, not ours")
    blocks = [os.urandom(n) for n in (10, 5 << 20, 3, 9 << 20, 1)]
    if not kill_child:  # the digest must be the child's, not the fallback's
        forked_hasher = importlib.import_module("opinionkit.pdf.assemble")._ForkedHasher

        def no_rehash(self: object, size: int) -> None:
            raise AssertionError("the child's digest was not used")

        monkeypatch.setattr(forked_hasher, "rehash", no_rehash)
    digest, forked = _sink_digest(target, blocks, kill_child=kill_child)
    assert digest == hashlib.sha256(b"".join(blocks)).hexdigest()
    assert target.read_bytes() == b"earlier bytes, not ours" + b"".join(blocks)
    if sys.platform.startswith("linux"):
        assert forked


def test_packet_hash_of_a_pipe_is_made_in_process() -> None:
    assemble_module = importlib.import_module("opinionkit.pdf.assemble")
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "wb", buffering=0) as raw, os.fdopen(read_end, "rb") as reader:
        sink = assemble_module._HashingSink(raw)
        assert sink._child is None
        sink.write(b"abc")
        assert sink.finish() == hashlib.sha256(b"abc").hexdigest()
        raw.close()
        assert reader.read() == b"abc"


def test_a_bundled_packet_file_hashes_to_its_bytes(tmp_path: Path) -> None:
    out = tmp_path / "packet.pdf"
    with open(out, "wb") as fh:
        result = assemble(
            [Part("R", None, blank_pdf([(612, 792, 0)] * 40))],
            stamp=StampSpec(LEFT),
            metadata=META,
            out=fh,
        )
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.size == out.stat().st_size


def test_write_error_reaches_the_caller() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        assemble(
            [Part("R", None, blank_pdf([(612, 792, 0)] * 3))],
            stamp=StampSpec(LEFT),
            metadata=META,
            out=Full(),  # type: ignore[arg-type]
        )
    assert info.value.errno == errno.ENOSPC


def as_source(data: bytes, kind: str, tmp_path: Path) -> Path | bytes:
    """The same PDF as bytes or as a file: assemble opens files through qpdf's job
    interface (stream data read while writing) and bytes with pikepdf directly."""
    if kind == "bytes":
        return data
    path = tmp_path / "source.pdf"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_a_page_listed_twice_becomes_two_pages(kind: str, tmp_path: Path) -> None:
    import pikepdf

    src = pikepdf.Pdf.open(io.BytesIO(blank_pdf([(612, 792, 0)])))
    page = src.Root.Pages.Kids[0]
    src.Root.Pages.Kids = pikepdf.Array([page, page])
    src.Root.Pages.Count = 2
    buf = io.BytesIO()
    src.save(buf)
    data, result = build(
        [
            Part("Twice", None, as_source(buf.getvalue(), kind, tmp_path)),
            Part("One", None, blank_pdf([(595, 842, 0)])),
        ]
    )
    reader = PdfReader(io.BytesIO(data))
    assert result.page_count == 3  # type: ignore[attr-defined]
    assert len(reader.pages) == 3
    refs = [p.indirect_reference.idnum for p in reader.pages]  # type: ignore[union-attr]
    assert len(set(refs)) == 3  # each page its own object, each stamped once
    for i, p in enumerate(reader.pages, start=1):
        assert p.extract_text().count(f"Page {i} of 3") == 1
    assert float(reader.pages[2].mediabox.width) == 595


@pytest.mark.parametrize("kind", ["bytes", "file"])
def test_inherited_page_attributes_are_kept(kind: str, tmp_path: Path) -> None:
    """MediaBox, Rotate and Resources set on the page tree, not on the page itself."""
    import pikepdf

    src = pikepdf.Pdf.new()
    font = pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1)
    font.BaseFont = pikepdf.Name.Helvetica
    page = src.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            Contents=src.make_stream(b"BT /F1 12 Tf 72 500 Td (Inherited) Tj ET"),
        )
    )
    tree = src.Root.Pages
    page.Parent = tree
    tree.Kids = pikepdf.Array([page])
    tree.Count = 1
    tree.MediaBox = pikepdf.Array([0, 0, 842, 595])
    tree.Rotate = 90
    tree.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    buf = io.BytesIO()
    src.save(buf)
    data, _ = build([Part("Inherited", None, as_source(buf.getvalue(), kind, tmp_path))])
    (out,) = PdfReader(io.BytesIO(data)).pages
    assert [float(v) for v in out.mediabox] == [0, 0, 842, 595]
    assert out.get("/Rotate") == 90
    assert "Inherited" in out.extract_text()
    assert_stamp_at_visual_bottom(out)


MEMORY_PROBE = """
import sys
from pathlib import Path
from opinionkit.pdf import Part, StampSpec, assemble
assemble([Part("Warm-up", None, Path(sys.argv[3]))], stamp=StampSpec("Case X"), metadata={},
         out=open(sys.argv[2], "wb"))  # Typst and its fonts loaded before measuring
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
before = peak_kb()
with open(sys.argv[2], "wb") as out:
    assemble([Part("Big", None, Path(sys.argv[1]))], stamp=StampSpec("Case X"),
             metadata={}, out=out)
print((peak_kb() - before) // 1024)
"""


@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux's peak-RSS reset"
)
def test_stream_data_is_read_while_writing_not_held(tmp_path: Path) -> None:
    """A file's images are streamed from it into the packet, not copied into memory
    first: assembling a 96 MB file raises peak memory by far less than its size."""
    import pikepdf

    src = pikepdf.Pdf.new()
    rng = __import__("random").Random(7)
    for _ in range(6):  # six pages, each a 16 MB incompressible "scan"
        image = src.make_stream(rng.randbytes(16 << 20))
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height = 4096, 4096
        image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceGray, 8
        src.add_blank_page(page_size=(612, 792))
        page = src.pages[-1]
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        page.Contents = src.make_stream(b"q 612 0 0 792 0 0 cm /Im0 Do Q")
    big = tmp_path / "big.pdf"
    src.save(big, compress_streams=False)
    small = tmp_path / "small.pdf"
    small.write_bytes(blank_pdf([(612, 792, 0)]))
    out = tmp_path / "out.pdf"
    proc = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(big), str(out), str(small)],
        capture_output=True,
        text=True,
        check=True,
    )
    grew_mb = int(proc.stdout.strip())
    assert out.stat().st_size > big.stat().st_size
    assert len(PdfReader(out).pages) == 6
    assert grew_mb < 48, f"peak memory grew by {grew_mb} MB for a 96 MB input"


def test_not_a_pdf_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "portal-download.pdf"
    bad.write_bytes(b"<html>session expired</html>")
    with pytest.raises(InputError, match=re.escape("portal-download.pdf")):
        build([Part("Bad", None, bad)])


# --------------------------------------------------------------------------- placement


@pytest.mark.parametrize("rotate", [0, 90, 180, 270, 360, -90, 450])
def test_stamp_at_visual_bottom_for_rotations(rotate: int) -> None:
    data, _ = build([Part("R", None, blank_pdf([(595, 842, rotate), (842, 595, rotate)]))])
    for page in PdfReader(io.BytesIO(data)).pages:
        assert_stamp_at_visual_bottom(page)


@pytest.mark.parametrize("size", [(612, 792), (842, 595), (100, 60), (5000, 3000)])
def test_stamp_placement_offset_boxes_and_sizes(size: tuple[int, int]) -> None:
    w, h = size
    src = blank_pdf(
        [(w, h, 90), (w, h, 0)],
        media_origin=(-200, 300),
        crop=(-180, 320, -200 + w - 10, 300 + h - 30),
    )
    data, _ = build([Part("R", None, src)])
    for page in PdfReader(io.BytesIO(data)).pages:
        assert_stamp_at_visual_bottom(page)
        assert "Page" in page.extract_text()


@pytest.mark.parametrize(
    "name",
    [
        "sf__habibi-rotated.pdf",
        "pdfjs__rotation.pdf",
        "pdfjs__sizes.pdf",
        "qpdf__minimal-rotated.pdf",
    ],
)
def test_stamp_on_corpus_pages(name: str) -> None:
    data, result = build([Part("C", None, corpus(name))])
    reader = PdfReader(io.BytesIO(data))
    n = result.page_count  # type: ignore[attr-defined]
    for i, page in enumerate(reader.pages, start=1):
        assert_stamp_at_visual_bottom(page)
        assert f"Page {i} of {n}" in page.extract_text()


def _raw(value: object) -> bytes:
    """The bytes of a PDF string object, whether pypdf read it as text or as bytes."""
    original = getattr(value, "original_bytes", None)
    return original if isinstance(original, bytes) else bytes(value)  # type: ignore[call-overload]


def _render(pdf: Path, tmp: Path, page: int) -> Image.Image:
    prefix = tmp / f"r{page}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "72",
            "-gray",
            "-png",
            "-f",
            str(page),
            "-l",
            str(page),
            str(pdf),
            str(prefix),
        ],
        check=True,
        capture_output=True,
    )
    (png,) = tmp.glob(f"r{page}*.png")
    img = Image.open(png)
    img.load()
    png.unlink()
    return img


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs pdftoppm")
def test_rendered_stamp_is_a_horizontal_band_at_the_bottom(tmp_path: Path) -> None:
    data, _ = build([Part("R", None, blank_pdf([(595, 842, r) for r in (0, 90, 180, 270)]))])
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(data)
    for i in range(1, 5):
        img = _render(pdf, tmp_path, i)
        ink = img.point(lambda v: 255 if v < 200 else 0).getbbox()
        assert ink is not None
        x0, y0, x1, y1 = ink
        assert y0 > img.height * 0.9, f"page {i}: ink starts at {y0}/{img.height}"
        assert (x1 - x0) > 5 * (y1 - y0), f"page {i}: ink is not a horizontal line"


# --------------------------------------------------------------------------- hostile and odd sources


def test_outline_loop_does_not_hang() -> None:
    _data, result = build([Part("Loop", None, corpus("qpdf__outlines-with-loop.pdf"))])
    assert result.page_count == 30  # type: ignore[attr-defined]


def test_flate_bomb_is_not_decoded() -> None:
    data, result = build([Part("Bomb", None, corpus("gen__flate-bomb-1GiB-nested.pdf"))])
    assert result.page_count == 1  # type: ignore[attr-defined]
    assert len(data) < 200_000


@pytest.mark.parametrize("password", [None, "secret"])
def test_an_lzw_bomb_image_is_copied_still_encoded(password: str | None) -> None:
    # 220 KB of LZW that decodes to 300 MB: check never decodes images, so the merge must
    # not either, encrypted or not (qpdf re-encrypts the stream's bytes as they are)
    data = lzw_zero_runs(41)
    image = (
        b"<< /Type /XObject /Subtype /Image /Width 1000 /Height 300000 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length %d /Filter /LZWDecode >>\nstream\n"
        % len(data)
        + data
        + b"\nendstream"
    )
    source = serialize(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /XObject << /Im0 5 0 R >> >> >>",
            b"<< /Length 30 >>\nstream\nq 100 0 0 100 0 0 cm /Im0 Do Q\nendstream",
            image,
        ]
    )
    packet, _ = build([Part("Scan", "Imaging", source)], encrypt_password=password)
    assert len(packet) < 2 * len(data)
    with pikepdf.open(io.BytesIO(packet), password=password or "") as pdf:
        copied = pdf.pages[0].Resources.XObject.Im0
        assert copied.Filter == "/LZWDecode" and len(copied.read_raw_bytes()) == len(data)


def test_forms_signatures_attachments_are_dropped_and_reported() -> None:
    parts = [
        Part("Form", None, corpus("sf__pdflatex-forms.pdf")),
        Part("Signed", None, corpus("qpdf__digitally-signed.pdf")),
        Part("Attachment", None, corpus("sf__with-attachment.pdf")),
    ]
    data, result = build(parts)
    dropped = result.dropped  # type: ignore[attr-defined]
    assert any(i == 0 and "form fields" in w for i, w in dropped)
    assert any(i == 1 and "signature" in w for i, w in dropped)
    assert any(i == 2 and "embedded files" in w for i, w in dropped)
    reader = PdfReader(io.BytesIO(data))
    assert "/AcroForm" not in reader.trailer["/Root"]
    assert "/Names" not in reader.trailer["/Root"]
    for page in reader.pages:
        for annot in page.get("/Annots") or []:
            assert annot.get_object().get("/Subtype") not in ("/Widget", "/FileAttachment")
    assert b"/JavaScript" not in data or b"/JS " not in data


def test_empty_source_gives_empty_range() -> None:
    _data, result = build(
        [
            Part("Empty", "Labs", corpus("qpdf__empty.pdf")),
            Part("R", "Labs", blank_pdf([(612, 792, 0)])),
        ]
    )
    assert result.parts[0].pages == range(1, 1)  # type: ignore[attr-defined]
    assert result.parts[1].pages == range(1, 2)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- internal links


def test_front_matter_links_become_goto() -> None:
    front = typst.compile(
        b'= Index\n#link("opinionkit:page/3")[Report]\n\n#link("opinionkit:page/99")[Elsewhere]\n',
        format="pdf",
    )
    assert isinstance(front, bytes)
    parts = [Part("Index", None, front), Part("Report", "Labs", blank_pdf([(612, 792, 0)] * 3))]
    data, result = build(parts)
    reader = PdfReader(io.BytesIO(data))
    links = [a.get_object() for a in reader.pages[0]["/Annots"]]
    goto = [a for a in links if a.get("/A", {}).get("/S") == "/GoTo"]
    assert len(goto) == 1
    dest = goto[0]["/A"]["/D"]
    assert reader.get_page_number(dest[0].get_object()) == 2  # printed page 3
    assert result.unresolved_links == [(1, "opinionkit:page/99")]  # type: ignore[attr-defined]
    assert b"opinionkit:page/3" not in data


# --------------------------------------------------------------------------- images


def _jpeg(tmp: Path, name: str, mode: str, size: tuple[int, int], **save: object) -> Path:
    color: object = {"L": 128, "RGB": (200, 30, 30), "CMYK": (0, 200, 200, 0)}[mode]
    img = Image.new(mode, size, color)  # type: ignore[arg-type]
    path = tmp / name
    img.save(path, "JPEG", **save)  # type: ignore[arg-type]
    return path


def test_jpeg_embedded_without_reencoding(tmp_path: Path) -> None:
    paths = [
        _jpeg(tmp_path, "rgb.jpg", "RGB", (300, 450), dpi=(150, 150)),
        _jpeg(tmp_path, "gray.jpg", "L", (200, 100), dpi=(100, 100)),
        _jpeg(tmp_path, "cmyk.jpg", "CMYK", (100, 100)),
    ]
    reader = PdfReader(io.BytesIO(images_to_pdf(paths)))
    assert len(reader.pages) == 3
    for page, path in zip(reader.pages, paths, strict=True):
        (xobj,) = [v.get_object() for v in page["/Resources"]["/XObject"].values()]
        assert xobj["/Filter"] == "/DCTDecode"
        assert xobj._data == path.read_bytes()
    assert reader.pages[0].mediabox.width == pytest.approx(144)  # 300 px at 150 dpi
    assert reader.pages[0].mediabox.height == pytest.approx(216)
    assert reader.pages[1].mediabox.width == pytest.approx(144)  # 200 px at 100 dpi
    cmyk = next(iter(reader.pages[2]["/Resources"]["/XObject"].values())).get_object()
    assert cmyk["/ColorSpace"] == "/DeviceCMYK"
    assert list(cmyk["/Decode"]) == [1, 0] * 4  # Pillow writes Adobe (inverted) CMYK


def test_jpeg_exif_orientation_swaps_page(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _jpeg(tmp_path, "rot.jpg", "RGB", (300, 150), dpi=(150, 150), exif=exif.tobytes())
    page = PdfReader(io.BytesIO(images_to_pdf([path]))).pages[0]
    assert page.mediabox.width == pytest.approx(72)
    assert page.mediabox.height == pytest.approx(144)


def test_multipage_tiff_png_and_default_dpi(tmp_path: Path) -> None:
    frames = [Image.new("1", (300, 300), 1), Image.new("L", (150, 300), 90)]
    tiff = tmp_path / "fax.tif"
    frames[0].save(tiff, save_all=True, append_images=frames[1:], dpi=(300, 300))
    png = tmp_path / "photo.png"
    Image.new("RGBA", (150, 75), (0, 0, 255, 128)).save(png)  # no dpi: 150 by default
    reader = PdfReader(io.BytesIO(images_to_pdf([tiff, png])))
    assert len(reader.pages) == 3
    assert reader.pages[0].mediabox.width == pytest.approx(72)
    first = next(iter(reader.pages[0]["/Resources"]["/XObject"].values())).get_object()
    assert first["/BitsPerComponent"] == 1 and first["/Filter"] == "/FlateDecode"
    assert reader.pages[2].mediabox.width == pytest.approx(72)
    data, _ = build([Part("Scans", "Imaging", images_to_pdf([tiff, png]))])
    assert "Page 3 of 3" in PdfReader(io.BytesIO(data)).pages[2].extract_text()


def test_absurd_dpi_is_clamped(tmp_path: Path) -> None:
    path = _jpeg(tmp_path, "phone.jpg", "RGB", (4000, 3000), dpi=(72, 72))
    page = PdfReader(io.BytesIO(images_to_pdf([path]))).pages[0]
    assert max(page.mediabox.width, page.mediabox.height) <= 17 * 72 + 0.01


def test_bad_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "scan-3.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match=re.escape("scan-3.jpg")):
        images_to_pdf([bad])


# --------------------------------------------------------------------------- atomic writes


def _no_temps(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_atomic_write_creates_owner_only(tmp_path: Path) -> None:
    target = tmp_path / "packet.pdf"
    atomic_write(target, b"new", force=False)
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o600
    _no_temps(tmp_path)


@pytest.mark.parametrize("sync", [True, False])
def test_atomic_write_fsyncs_unless_told_its_folder_will(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    atomic_write(tmp_path / "manifest.json", b"{}", force=True, sync=sync)
    assert (tmp_path / "manifest.json").read_bytes() == b"{}"
    assert bool(synced) is sync
    _no_temps(tmp_path)


def test_write_behind_passes_bytes_through_and_flushes_every_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opinionkit.pdf import atomic

    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        atomic, "_sync_file_range", lambda fd, off, n, flags: calls.append((off, n, flags)) or 0
    )
    chunks = [os.urandom(n) for n in (700, 300, 1500, 10, 2000)]
    target = tmp_path / "big.pdf"
    with open(target, "wb", buffering=0) as raw, atomic.WriteBehind(raw, every=1000) as fh:
        for chunk in chunks:
            assert fh.write(chunk) == len(chunk)
    assert target.read_bytes() == b"".join(chunks)
    # contiguous ranges from 0, each at least `every` long, all asking only to start writing
    assert [c[0] for c in calls] == [0, 1000, 2500]
    assert [c[1] for c in calls] == [1000, 1500, 2010]
    assert {c[2] for c in calls} == {2}  # SYNC_FILE_RANGE_WRITE: never waits


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_write_behind_uses_the_kernel_call_on_linux(tmp_path: Path) -> None:
    from opinionkit.pdf import atomic

    assert atomic._sync_file_range is not None
    with open(tmp_path / "f", "wb", buffering=0) as raw, atomic.WriteBehind(raw, every=10) as fh:
        fh.write(b"x" * 100)
    assert (tmp_path / "f").read_bytes() == b"x" * 100


def test_atomic_write_refuses_without_force(tmp_path: Path) -> None:
    target = tmp_path / "packet.pdf"
    target.write_bytes(b"old")
    with pytest.raises(OutputExistsError):
        atomic_write(target, b"new", force=False)
    atomic_write(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    _no_temps(tmp_path)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_failure_keeps_old_file(tmp_path: Path, exc: type[BaseException]) -> None:
    target = tmp_path / "packet.pdf"
    target.write_bytes(b"old")

    def half_written(fh: io.BufferedWriter) -> None:
        fh.write(b"partial")
        raise exc

    with pytest.raises(exc):
        atomic_write(target, half_written, force=True)
    assert target.read_bytes() == b"old"
    _no_temps(tmp_path)


def test_atomic_write_with_assemble_callback(tmp_path: Path) -> None:
    target = tmp_path / "packet.pdf"
    parts = [Part("R", None, blank_pdf([(612, 792, 0)]))]
    writer: Callable[[io.BufferedWriter], object] = lambda fh: assemble(  # noqa: E731
        parts, stamp=StampSpec(LEFT), metadata=META, out=fh
    )
    atomic_write(target, writer, force=False)
    assert len(PdfReader(target).pages) == 1


def test_atomic_dir_swap_and_failure(tmp_path: Path) -> None:
    out = tmp_path / "case-out"
    with AtomicDir(out, force=False) as tmp:
        (tmp / "packet.pdf").write_bytes(b"v1")
    assert (out / "packet.pdf").read_bytes() == b"v1"
    assert (out.stat().st_mode & 0o777) == 0o700
    with pytest.raises(OutputExistsError), AtomicDir(out, force=False):
        pass
    with pytest.raises(KeyboardInterrupt), AtomicDir(out, force=True) as tmp:
        (tmp / "packet.pdf").write_bytes(b"half")
        raise KeyboardInterrupt
    assert (out / "packet.pdf").read_bytes() == b"v1"
    with AtomicDir(out, force=True) as tmp:
        (tmp / "packet.pdf").write_bytes(b"v2")
    assert sorted(os.listdir(out)) == ["packet.pdf"]
    assert (out / "packet.pdf").read_bytes() == b"v2"
    _no_temps(tmp_path)


def test_short_writes_are_offered_again_and_hashed_once() -> None:
    """A raw file may take fewer bytes than offered (a nearly full disk): nothing may be
    lost or hashed twice."""

    class Stingy(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            chunk = bytes(memoryview(b)[:1000])  # type: ignore[arg-type]
            self.data += chunk
            return len(chunk)

    out = Stingy()
    result = assemble(
        [Part("R", None, blank_pdf([(612, 792, 0)] * 3))],
        stamp=StampSpec(LEFT),
        metadata=META,
        out=out,  # type: ignore[arg-type]
    )
    assert result.size == len(out.data) > 3000
    assert result.sha256 == hashlib.sha256(bytes(out.data)).hexdigest()
    assert bytes(out.data).startswith(b"%PDF-") and bytes(out.data).rstrip().endswith(b"%%EOF")


# --------------------------------------------------------------------------- a record's own navigation


def navigable_pdf(*, loop: bool = False) -> bytes:
    """Four pages with the navigation real records carry: a bookmark tree (nested, one
    item with a named destination, one GoTo action, one on a page that is not in the
    page tree), a link to a later page by name (in the /Names tree) and by PDF 1.1 name
    (the catalog's /Dests), and one link to a page outside the page tree."""
    from pikepdf import Array, Dictionary, Name, String

    pdf = pikepdf.new()
    for _ in range(4):
        pdf.add_blank_page(page_size=(612, 792))
    pages = [p.obj for p in pdf.pages]
    stray = pdf.make_indirect(Dictionary(Type=Name.Page, MediaBox=[0, 0, 612, 792]))

    def item(title: str, **kw: object) -> pikepdf.Object:
        return pdf.make_indirect(Dictionary(Title=String(title), **kw))

    findings = item("Findings", Dest=String("sec.findings"))
    diagnosis = item("Diagnosis", A=Dictionary(S=Name.GoTo, D=Array([pages[3], Name.Fit])))
    elsewhere = item("Elsewhere", Dest=Array([stray, Name.Fit]))
    report = item("Report", Dest=Array([pages[0], Name.XYZ, 72, 700, None]))
    report.First, report.Last = findings, diagnosis
    findings.Parent = diagnosis.Parent = report
    findings.Next, diagnosis.Prev = diagnosis, findings
    diagnosis.Next, elsewhere.Prev = elsewhere, diagnosis
    report.Next = elsewhere
    if loop:
        elsewhere.Next = report  # a sibling chain that comes back to its start
    pdf.Root.Outlines = pdf.make_indirect(
        Dictionary(Type=Name.Outlines, First=report, Last=elsewhere)
    )
    pdf.Root.Names = Dictionary(
        Dests=Dictionary(Names=Array([String("sec.findings"), Array([pages[2], Name.FitH, 500])]))
    )
    pdf.Root.Dests = Dictionary({"/old.style": Dictionary(D=Array([pages[1], Name.Fit]))})

    def link(dest: object) -> pikepdf.Object:
        return pdf.make_indirect(
            Dictionary(Type=Name.Annot, Subtype=Name.Link, Rect=[72, 72, 200, 90], **dest)  # type: ignore[arg-type]
        )

    pages[0].Annots = Array(
        [
            link({"Dest": String("sec.findings")}),
            link({"A": Dictionary(S=Name.GoTo, D=Name("/old.style"))}),
            link({"Dest": Array([stray, Name.Fit])}),
            link({"Dest": String("no.such.name")}),
        ]
    )
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def test_a_records_own_bookmarks_hang_beneath_its_bookmark() -> None:
    parts = [
        Part("Letter", None, blank_pdf([(612, 792, 0)] * 2), bookmarks=False),
        Part("Biopsy", "Pathology", navigable_pdf()),
    ]
    data, result = build(parts)
    reader = PdfReader(io.BytesIO(data))
    # the record starts on printed page 3: its bookmarks land on its pages, shifted by 2
    assert outline_rows(reader) == [
        (0, "Letter", 1),
        (0, "Pathology", 3),
        (1, "Biopsy", 3),
        (2, "Report", 3),
        (3, "Findings", 5),  # a named destination, resolved through the /Names tree
        (3, "Diagnosis", 6),  # a GoTo action
    ]  # "Elsewhere" goes to a page outside the page tree: left out
    assert result.bookmarks == [  # type: ignore[attr-defined]
        "Letter",
        "Pathology",
        "Pathology/Biopsy",
        "Pathology/Biopsy/Report",
        "Pathology/Biopsy/Report/Findings",
        "Pathology/Biopsy/Report/Diagnosis",
    ]
    # the record's own bookmarks start folded away (the pane lists records first)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        biopsy = pdf.Root.Outlines.Last.First
        assert str(biopsy.Title) == "Biopsy" and int(biopsy.Count) < 0
    # the view is kept: the bookmark opens at the heading, not at the top of the page
    report = reader.outline[2][1][0]  # [Letter, Pathology, [Biopsy, [Report, [...]]]]
    assert report.title == "Report"  # type: ignore[union-attr]
    assert report["/Type"] == "/XYZ" and report["/Top"] == 700  # type: ignore[index]


def test_bookmarks_false_leaves_a_parts_own_bookmarks_out() -> None:
    data, _ = build([Part("Letter", None, navigable_pdf(), bookmarks=False)])
    assert outline_rows(PdfReader(io.BytesIO(data))) == [(0, "Letter", 1)]


def test_a_records_links_land_on_its_pages_in_the_packet() -> None:
    parts = [Part("Letter", None, blank_pdf([(612, 792, 0)])), Part("R", "Labs", navigable_pdf())]
    data, _ = build(parts)
    reader = PdfReader(io.BytesIO(data))
    targets = []
    for ref in reader.pages[1]["/Annots"]:
        annot = ref.get_object()
        dest = annot.get("/Dest", annot.get("/A", {}).get("/D"))
        targets.append(None if dest is None else reader.get_page_number(dest[0].get_object()) + 1)
    # by name (the /Names tree) to the record's page 3; by PDF 1.1 name to its page 2;
    # to a page outside the tree and to an undefined name: no destination left
    assert targets == [4, 3, None, None]
    # the page outside the page tree was not pulled into the packet with the link
    with pikepdf.open(io.BytesIO(data)) as pdf:
        page_dicts = [
            o
            for o in pdf.objects
            if isinstance(o, pikepdf.Dictionary) and o.get("/Type") == "/Page"
        ]
        assert len(page_dicts) == len(pdf.pages) == 5


def test_a_bookmark_loop_is_cut_where_it_closes() -> None:
    data, _ = build([Part("R", "Labs", navigable_pdf(loop=True))])
    rows = outline_rows(PdfReader(io.BytesIO(data)))
    assert [t for _, t, _ in rows] == ["Labs", "R", "Report", "Findings", "Diagnosis"]


def test_latex_bookmarks_and_links_by_name_survive_the_merge() -> None:
    # pdflatex (hyperref) gives every bookmark and link a named destination
    source = corpus("sf__pdflatex-outline.pdf")
    data, _ = build([Part("Letter", None, blank_pdf([(612, 792, 0)])), Part("R", "Labs", source)])
    reader = PdfReader(io.BytesIO(data))
    rows = outline_rows(reader)
    own = [r for r in rows if r[0] == 2]
    assert len(own) == 9 and {p for _, _, p in own} == {3, 4, 5}
    pages = [
        reader.get_page_number(a.get_object()["/A"]["/D"][0].get_object()) + 1
        for a in reader.pages[1]["/Annots"]
        if a.get_object().get("/Subtype") == "/Link"
    ]
    assert pages and all(3 <= p <= 5 for p in pages)


def _stamp_forms_used(data: bytes) -> tuple[set[tuple[int, int]], int]:
    """(the distinct stamp forms the pages draw, how many pages)."""
    with pikepdf.Pdf.open(io.BytesIO(data)) as pdf:
        forms = set()
        for page in pdf.pages:
            xo = page.obj.Resources.XObject
            forms.add(next(v.objgen for k, v in xo.items() if k.startswith("/OkStamp")))
        return forms, len(pdf.pages)


def test_one_stamp_form_per_page_width_and_numbers_drawn_per_page() -> None:
    """The stamps of a long packet are not one Typst page each: pages of one width share
    one form, and each page's "Page x of N" is drawn with the sheet's embedded font, its
    text extractable (PDFium) and in the embedded subset."""
    import pypdfium2 as pdfium

    sizes = [(595, 842, 0)] * 30 + [(842, 595, 0)] * 5 + [(612, 792, 90)] * 5
    data, _ = build(
        [Part("R", None, blank_pdf(sizes))],
        stamp=StampSpec(LEFT, bates_prefix="DOE", bates_start=37),
    )
    forms, pages = _stamp_forms_used(data)
    assert pages == 40
    assert len(forms) == 3  # 595, 842 and 792 wide (the rotated pages read 792 across)
    doc = pdfium.PdfDocument(data)
    try:
        for i in (0, 8, 29, 31, 39):
            text = doc[i].get_textpage().get_text_range()
            assert f"Page {i + 1} of 40" in text
            assert f"DOE{37 + i:06d}" in text
            assert LEFT in text
    finally:
        doc.close()
    with pikepdf.Pdf.open(io.BytesIO(data)) as pdf:
        fonts = {
            v.objgen
            for page in pdf.pages
            for k, v in page.obj.Resources.Font.items()
            if k.startswith("/OkStampF")
        }
        assert len(fonts) == 1  # one embedded font object for every page number
        font = pdf.get_object(next(iter(fonts)))
        assert "/FontFile3" in font.DescendantFonts[0].FontDescriptor or (
            "/FontFile2" in font.DescendantFonts[0].FontDescriptor
        )


def test_a_bates_prefix_the_sheet_font_lacks_falls_back_to_a_stamp_page_each() -> None:
    """A prefix in a script the stamp's first font lacks makes Typst fall back to other
    fonts (or none): the page texts are then laid out by Typst, one page each, and read
    the same."""
    data, _ = build(
        [Part("R", None, blank_pdf([(595, 842, 0)] * 3))],
        stamp=StampSpec(LEFT, bates_prefix="X\u2588", system_fonts=False),
    )
    forms, pages = _stamp_forms_used(data)
    assert pages == 3
    reader = PdfReader(io.BytesIO(data))
    for i, page in enumerate(reader.pages, start=1):
        assert f"Page {i} of 3" in page.extract_text()
    assert len(forms) == 3  # one Typst stamp page each


def _live_pdfs() -> int:
    import gc

    return sum(1 for o in gc.get_objects() if type(o) is pikepdf.Pdf)


def test_each_source_is_let_go_once_its_pages_are_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copied page's stream data is read through its source's file, not its Pdf: the
    Pdf (and every object qpdf parsed from it) is freed as soon as its pages are copied,
    so by the end of the copying (the merge's peak) it holds next to none of them, and
    the packet's bytes do not change. The files are closed once the packet is written."""
    asm = importlib.import_module("opinionkit.pdf.assemble")
    files = []
    for i in range(12):
        f = tmp_path / f"r{i}.pdf"
        f.write_bytes(blank_pdf([(595, 842, 0)] * 2))
        files.append(f)
    parts = [Part(f"R{i}", None, f, sha256=str(i)) for i, f in enumerate(files)]
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    live: list[int] = []
    clean = asm._clean_page

    def counting(page: object, note: Callable[[str], None]) -> object:
        live.append(_live_pdfs())
        return clean(page, note)

    monkeypatch.setattr(asm, "_clean_page", counting)
    data, result = build(parts)
    assert result.page_count == 24 and len(live) == 24
    # all 12 are open (their pages and boxes read) before the first page is copied;
    # then one is let go per source: by the last source, the packet and it are left
    # (and the one a loop variable still holds)
    assert live[0] >= 13 and live[-1] <= 3, live
    assert live[::2] == sorted(live[::2], reverse=True) and len(set(live[::2])) == 12
    monkeypatch.setattr(asm, "_clean_page", clean)
    again, _ = build(parts)
    assert again == data  # the same bytes, with the sources freed early or not
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds  # every source's file closed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX resource limits")
def test_every_source_can_stay_open_past_the_usual_soft_limit() -> None:
    """Sources are read lazily (from their files while the packet is written) only while
    a descriptor is free for each: the soft open-files limit is raised to the hard one."""
    code = (
        "import resource\n"
        "from opinionkit.pdf.assemble import lazy_source_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (100, hard))\n"
        "n = lazy_source_limit()\n"
        "print(n, resource.getrlimit(resource.RLIMIT_NOFILE)[0], hard)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    n, soft, hard = (int(v) for v in out.stdout.split())
    want = hard if hard >= 0 else 1 << 16  # RLIM_INFINITY is -1
    if want <= 100:
        pytest.skip("the hard limit leaves nothing to raise")
    assert soft == want and n == soft - 64


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")
def test_typst_runs_in_a_fork_only_while_this_process_never_loaded_it() -> None:
    """The stamp sheet (and the shipped front matter) are laid out in a forked child
    while this process has not loaded Typst, so the memory Typst keeps leaves with the
    child; once it is loaded (it may have run), never in a fork."""
    code = (
        "import sys\n"
        "from opinionkit import typstproc\n"
        "from opinionkit.pdf.stamp import StampSpec, render_sheet\n"
        "a = typstproc.start(render_sheet, StampSpec('x'), [595.0]).result()\n"
        "print(a.startswith(b'%PDF'), 'typst' in sys.modules, typstproc.fork_safe())\n"
        "import typst\n"
        "b = typstproc.start(render_sheet, StampSpec('x'), [595.0]).result()\n"
        "print(b == a, typstproc.fork_safe())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "True False True"  # made in a child: Typst never loaded here
    assert lines[1] == "True False"  # loaded: made here, the same bytes, no fork since

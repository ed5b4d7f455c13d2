"""Scanned images (JPEG, PNG, TIFF) to PDF pages, one page per image or TIFF frame.

Public API::

    images_to_pdf(paths, *, default_dpi=150) -> bytes   # feed to Part(source=...)

* **JPEG** is embedded as it is: the original file bytes become a ``/DCTDecode`` image
  stream (no decoding, no re-encoding, no quality loss). Grayscale, RGB/YCbCr and CMYK
  are supported; Adobe (Photoshop-style) CMYK JPEGs, which store inverted values, get
  ``/Decode [1 0 ...]``. EXIF orientation is applied with the placement matrix (free).
  Other JPEG flavours (e.g. 12-bit) fall back to the lossless path below.
* **PNG, TIFF** (and anything else Pillow opens) are decoded and stored losslessly with
  Flate: bilevel scans stay 1 bit per pixel, transparency is composited on white, EXIF
  orientation is applied. Every TIFF frame becomes a page.
* **Page size** comes from the image resolution; a missing or implausible resolution
  (outside 50..2400 dpi) counts as ``default_dpi``. A page whose longer side would exceed
  17 inches (a phone photo tagged 72 dpi) is scaled down to 17 inches; one whose longer
  side is under 1 inch is scaled up to 1 inch.

Raises :class:`~opinionkit.errors.InputError` naming the file for an unreadable image.
Images are limited by Pillow's decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``).
"""

from __future__ import annotations

import io
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import cast

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    StreamObject,
)

from opinionkit.errors import InputError

__all__ = ["images_to_pdf"]

_MIN_DPI, _MAX_DPI = 50.0, 2400.0
_MAX_SIDE = 17 * 72.0
_MIN_SIDE = 72.0

# EXIF orientation -> placement of the unit image square on a W x H page (W, H displayed).
_Matrix = tuple[float, float, float, float, float, float]
_ORIENT: dict[int, Callable[[float, float], _Matrix]] = {
    1: lambda w, h: (w, 0, 0, h, 0, 0),
    2: lambda w, h: (-w, 0, 0, h, w, 0),
    3: lambda w, h: (-w, 0, 0, -h, w, h),
    4: lambda w, h: (w, 0, 0, -h, 0, h),
    5: lambda w, h: (0, -h, -w, 0, w, h),
    6: lambda w, h: (0, -h, w, 0, 0, h),
    7: lambda w, h: (0, h, w, 0, 0, 0),
    8: lambda w, h: (0, h, -w, 0, w, 0),
}


def _dpi(img: Image.Image, default: float) -> tuple[float, float]:
    raw = img.info.get("dpi")
    try:
        x, y = float(raw[0]), float(raw[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return default, default
    x = x if _MIN_DPI <= x <= _MAX_DPI else default
    y = y if _MIN_DPI <= y <= _MAX_DPI else x
    return x, y


def _page_size(px_w: int, px_h: int, dpi: tuple[float, float]) -> tuple[float, float]:
    w, h = px_w / dpi[0] * 72.0, px_h / dpi[1] * 72.0
    longest = max(w, h)
    if longest > _MAX_SIDE:
        w, h = w * _MAX_SIDE / longest, h * _MAX_SIDE / longest
    elif longest < _MIN_SIDE:
        w, h = w * _MIN_SIDE / longest, h * _MIN_SIDE / longest
    return round(w, 3), round(h, 3)


def _image_stream(
    data: bytes, width: int, height: int, colorspace: str, bpc: int, filt: str
) -> StreamObject:
    stream = StreamObject()
    stream._data = data
    stream.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Image"),
            NameObject("/Width"): NumberObject(width),
            NameObject("/Height"): NumberObject(height),
            NameObject("/ColorSpace"): NameObject(colorspace),
            NameObject("/BitsPerComponent"): NumberObject(bpc),
            NameObject("/Filter"): NameObject(filt),
        }
    )
    return stream


def _add_image_page(
    writer: PdfWriter,
    stream: StreamObject,
    size: tuple[float, float],
    orientation: int,
) -> None:
    w, h = size
    page = writer.add_blank_page(w, h)
    ref = writer._add_object(stream)
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Im0"): ref})}
    )
    m = _ORIENT.get(orientation, _ORIENT[1])(w, h)
    content = DecodedStreamObject()
    ops = " ".join(f"{v:.3f}".rstrip("0").rstrip(".") or "0" for v in m)
    content.set_data(f"q {ops} cm /Im0 Do Q".encode())
    page[NameObject("/Contents")] = writer._add_object(content)


def _jpeg_stream(data: bytes, img: Image.Image) -> StreamObject | None:
    spaces = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}
    if img.mode not in spaces or getattr(img, "bits", 8) != 8:
        return None
    stream = _image_stream(data, img.width, img.height, spaces[img.mode], 8, "/DCTDecode")
    if img.mode == "CMYK" and "adobe" in img.info:
        stream[NameObject("/Decode")] = ArrayObject([NumberObject(v) for v in (1, 0) * 4])
    return stream


def _lossless_stream(frame: Image.Image) -> StreamObject:
    img = ImageOps.exif_transpose(frame) or frame
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        img = background
    elif img.mode == "P":
        img = img.convert("RGB")
    elif img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = img.convert("L") if img.mode != "I;16" else img.point(lambda v: v / 256).convert("L")
    elif img.mode not in ("1", "L", "RGB", "CMYK"):
        img = img.convert("RGB")
    spaces = {"1": "/DeviceGray", "L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}
    bpc = 1 if img.mode == "1" else 8
    data = zlib.compress(img.tobytes(), 6)
    return _image_stream(data, img.width, img.height, spaces[img.mode], bpc, "/FlateDecode")


def _frames(img: Image.Image) -> Iterator[Image.Image]:
    yield from ImageSequence.Iterator(img)


def images_to_pdf(paths: Sequence[Path], *, default_dpi: float = 150.0) -> bytes:
    """One page per image (per frame for multi-page TIFF), in order; returns PDF bytes."""
    writer = PdfWriter()
    for path in paths:
        try:
            data = path.read_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                dpi = _dpi(img, default_dpi)
                if img.format == "JPEG" and (stream := _jpeg_stream(data, img)) is not None:
                    orientation = int(img.getexif().get(0x0112, 1) or 1)
                    px_w, px_h = img.width, img.height
                    if orientation in (5, 6, 7, 8):
                        px_w, px_h = px_h, px_w
                        dpi = (dpi[1], dpi[0])
                    _add_image_page(writer, stream, _page_size(px_w, px_h, dpi), orientation)
                    continue
                for frame in _frames(img):
                    stream = _lossless_stream(frame)
                    size = _page_size(
                        int(cast(int, stream["/Width"])), int(cast(int, stream["/Height"])), dpi
                    )
                    _add_image_page(writer, stream, size, 1)
        except (
            OSError,
            UnidentifiedImageError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            SyntaxError,
        ) as exc:
            raise InputError(f"{path.name}: not a readable image ({type(exc).__name__})") from None
    writer.add_metadata({"/Producer": "opinionkit"})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()

"""Scanned records (JPEG, PNG, TIFF): do they decode, how many pages, what resolution."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from opinionkit.inspect.limits import Limits, run_limited

MAX_PIXELS = 200_000_000
"""Larger images are refused (a decompression bomb, or a scan at an absurd resolution)."""


@dataclass
class ImageInfo:
    format: str | None = None
    width: int = 0
    height: int = 0
    dpi: tuple[float, float] | None = None
    frames: int = 0
    mode: str | None = None
    error: str | None = None
    limit: str | None = None


def _inspect(path: str) -> ImageInfo:
    # Loaded here (a worker's first image; ~0.02 s), not at import: most cases are PDFs.
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    info = ImageInfo()
    try:
        with Image.open(path) as img:
            info.format = img.format
            info.width, info.height = img.size
            info.mode = img.mode
            dpi = img.info.get("dpi")
            if isinstance(dpi, tuple) and len(dpi) == 2:
                info.dpi = (float(dpi[0]), float(dpi[1]))
            info.frames = int(getattr(img, "n_frames", 1))
            for i in range(info.frames):
                img.seek(i)
                img.load()  # decode every page: a truncated scan fails here, not in the bundle
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        info.limit = "image size"
    except Exception as e:
        info.error = type(e).__name__
    return info


def inspect_image(path: Path, *, limits: Limits | None = None) -> ImageInfo:
    """Decode a scanned image within ``limits`` (raises :class:`LimitExceeded`)."""
    limits = limits or Limits()
    try:
        return run_limited(_inspect, str(path), limits=limits)
    except RuntimeError as e:
        return ImageInfo(error=str(e))

"""The PDF layer of ``opinionkit bundle``: pure library code, no CLI, no printing.

* :mod:`opinionkit.pdf.assemble` — merge parts, stamp, label, bookmark, link, write.
* :mod:`opinionkit.pdf.stamp` — the footer stamp (Typst-rendered Form XObjects).
* :mod:`opinionkit.pdf.images` — scanned JPEG/PNG/TIFF files to PDF pages.
* :mod:`opinionkit.pdf.atomic` — atomic, owner-only writes of a file or a folder.
"""

from typing import TYPE_CHECKING, Any

from opinionkit.pdf.assemble import LINK_PREFIX, AssembleResult, Part, PartPages, assemble
from opinionkit.pdf.atomic import AtomicDir, atomic_write
from opinionkit.pdf.stamp import StampSpec

if TYPE_CHECKING:
    from opinionkit.pdf.images import images_to_pdf


def __getattr__(name: str) -> Any:
    # images (and the pypdf it builds pages with, 0.1 s to import) load only for a case
    # that has scanned images.
    if name == "images_to_pdf":
        from opinionkit.pdf.images import images_to_pdf

        return images_to_pdf
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "LINK_PREFIX",
    "AssembleResult",
    "AtomicDir",
    "Part",
    "PartPages",
    "StampSpec",
    "assemble",
    "atomic_write",
    "images_to_pdf",
]

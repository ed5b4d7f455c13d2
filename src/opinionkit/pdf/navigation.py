"""A record's own navigation, carried into the packet: its bookmarks and its internal links.

A merge copies pages, never a source's catalog, so without this a record's bookmarks
(``/Outlines``) and its named destinations (``/Dests``, ``/Names /Dests``) would be lost,
and every link that goes to a named destination would go nowhere. Before a source's pages
are copied, :func:`fix_links` gives each internal link an explicit destination on one of
the source's own pages (copying the page then points it at the packet's copy of that
page), and :func:`read_outline` reads the source's bookmarks as :class:`Mark` objects,
which :mod:`opinionkit.pdf.assemble` hangs beneath the record's bookmark.

Sources may be hostile: the bookmark tree may loop or be huge, a name tree may be broken.
Reading is bounded (:data:`MAX_MARKS`, :data:`MAX_DEPTH`, every item visited once), a
destination on a page the source does not have is dropped (copying it would pull that
page into the packet outside the page tree), and nothing here can make a record fail to
merge: a source whose navigation cannot be read keeps its pages, without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeGuard

import pikepdf
from pikepdf import Array, Dictionary, Name, Pdf, String

MAX_MARKS = 500
"""Bookmarks carried over from one source (a records-release PDF may have hundreds)."""
MAX_DEPTH = 8
"""Levels of a source's bookmark tree carried over beneath the record's bookmark."""
MAX_TITLE = 200
"""Characters of a bookmark title kept."""

_VIEWS = {
    "/XYZ": 3,
    "/Fit": 0,
    "/FitH": 1,
    "/FitV": 1,
    "/FitR": 4,
    "/FitB": 0,
    "/FitBH": 1,
    "/FitBV": 1,
}
"""Destination views and how many numbers (or nulls) follow each (PDF 32000 12.3.2.2)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

READ_ERRORS: tuple[type[BaseException], ...] = (
    pikepdf.PdfError,
    ValueError,
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
    OSError,
    RuntimeError,
)
"""What reading a damaged source can raise (pikepdf maps qpdf's errors onto these; a
source read lazily may also fail with OSError)."""


@dataclass(frozen=True)
class Target:
    """Where a destination lands: a page of the source (0-based) and the view there."""

    page: int
    view: tuple[Any, ...] = (Name.Fit,)
    """The destination array's entries after the page: ``(/XYZ, left, top, zoom)`` etc."""


@dataclass(frozen=True)
class Mark:
    """One bookmark of a source, on a page of that source."""

    title: str
    target: Target
    children: tuple[Mark, ...] = ()


def _is_dict(obj: Any) -> TypeGuard[Dictionary]:
    return isinstance(obj, Dictionary)


def _view(entries: Sequence[Any]) -> tuple[Any, ...]:
    """The view of a destination array, if it is a well-formed one; else Fit."""
    if not entries or not isinstance(entries[0], Name):
        return (Name.Fit,)
    kind = str(entries[0])
    count = _VIEWS.get(kind)
    if count is None or len(entries) < 1 + count:
        return (Name.Fit,)
    values = list(entries[1 : 1 + count])
    if not all(v is None or isinstance(v, int | Decimal | float) for v in values):
        return (Name.Fit,)
    return (Name(kind), *values)


class Destinations:
    """Resolves a source's destinations (explicit, or named in its catalog) to its pages."""

    def __init__(self, pdf: Pdf, pages: Sequence[Any]) -> None:
        self.pages = list(pages)
        self._index = {page.objgen: i for i, page in enumerate(self.pages)}
        root = pdf.Root
        dests = root.get("/Dests")  # PDF 1.1: a dictionary of names
        self._dests = dests if _is_dict(dests) else None
        names = root.get("/Names")
        tree = names.get("/Dests") if _is_dict(names) else None
        self._tree = pikepdf.NameTree(tree) if _is_dict(tree) else None

    def _named(self, name: Any) -> Any:
        value = None
        if isinstance(name, Name) and self._dests is not None:
            value = self._dests.get(str(name))
        elif isinstance(name, String):
            key = str(name)
            if self._tree is not None and key in self._tree:
                value = self._tree[key]
            elif self._dests is not None:
                value = self._dests.get("/" + key)
        if _is_dict(value):  # << /D [page /XYZ ...] >>
            value = value.get("/D")
        return value

    def resolve(self, dest: Any) -> Target | None:
        """The page (of this source) and view ``dest`` goes to; None for anything else
        (another file's page, a page outside the page tree, a name not defined)."""
        if isinstance(dest, Name | String):
            dest = self._named(dest)
        if not isinstance(dest, Array) or len(dest) == 0:
            return None
        page = dest[0]
        if not _is_dict(page):  # an integer: a page of another document (GoToR)
            return None
        index = self._index.get(page.objgen)
        if index is None:
            return None
        return Target(index, _view(list(dest[1:])))

    def explicit(self, target: Target) -> Array:
        """A destination array for ``target`` on the source's own page object."""
        return Array([self.pages[target.page], *target.view])


def _goto(action: Any) -> Any:
    """The destination of a GoTo action (None for any other action)."""
    if _is_dict(action) and action.get("/S") == Name.GoTo:
        return action.get("/D")
    return None


def fix_links(page: Any, dests: Destinations) -> None:
    """Point the page's internal links at explicit destinations on the source's own pages
    (a named one resolved; one going outside the source's pages removed)."""
    annots = page.get("/Annots")
    if not isinstance(annots, Array):
        return
    for annot in annots:
        if not _is_dict(annot) or annot.get("/Subtype") != Name.Link:
            continue
        try:
            if "/Dest" in annot:
                dest = annot.get("/Dest")
                target = dests.resolve(dest)
                if target is None:
                    del annot["/Dest"]
                elif not isinstance(dest, Array):
                    annot.Dest = dests.explicit(target)
                continue
            action = annot.get("/A")
            dest = _goto(action)
            if dest is None or not _is_dict(action):
                continue
            target = dests.resolve(dest)
            if target is None:
                del annot["/A"]
            elif not isinstance(dest, Array):
                action.D = dests.explicit(target)
        except READ_ERRORS:
            continue


def _title(item: Any) -> str:
    title = item.get("/Title")
    if not isinstance(title, String):
        return ""
    text = _CONTROL.sub(" ", str(title)).strip()
    return text[:MAX_TITLE]


def read_outline(pdf: Pdf, dests: Destinations) -> list[Mark]:
    """The source's bookmarks that land on its pages, in order; at most :data:`MAX_MARKS`
    of them, :data:`MAX_DEPTH` levels deep. An item without a usable destination of its
    own lands where its first child does; an untitled one is skipped."""
    outlines = pdf.Root.get("/Outlines")
    if not _is_dict(outlines):
        return []
    seen: set[tuple[int, int]] = set()
    budget = MAX_MARKS

    def level(first: Any, depth: int) -> list[Mark]:
        nonlocal budget
        marks: list[Mark] = []
        item = first
        while _is_dict(item) and budget > 0:
            key = item.objgen
            if key in seen or key == (0, 0):  # a loop, or a direct object (not allowed)
                break
            seen.add(key)
            budget -= 1
            dest = item.get("/Dest") if "/Dest" in item else _goto(item.get("/A"))
            target = dests.resolve(dest) if dest is not None else None
            children = level(item.get("/First"), depth + 1) if depth < MAX_DEPTH else []
            title = _title(item)
            if target is None and children:
                target = children[0].target
            if title and target is not None:
                marks.append(Mark(title, target, tuple(children)))
            else:
                marks.extend(children)
            item = item.get("/Next")
        return marks

    try:
        return level(outlines.get("/First"), 1)
    except READ_ERRORS:
        return []

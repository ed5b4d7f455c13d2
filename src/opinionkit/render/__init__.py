"""Rendering the packet's front matter: Jinja templates -> Typst source -> PDF.

Public API::

    FrontMatterInput(case, profile_title, generated, enclosures=[Enclosure(...)],
                     imaging=[ImagingStudy(...)], missing=[...], volumes=1,
                     first_page_number=1)
    render_front_matter(inp, templates_dir=None) -> FrontMatter   # one PDF per section
    render_letter(inp, templates_dir=None, front=None) -> bytes   # the letter alone
    render_letter_text(inp, templates_dir=None, front=None) -> str

* :mod:`opinionkit.render.templating` — the sandboxed, escaping Jinja environment and
  the Typst compile step (also used by ``init`` and ``request``).
* :mod:`opinionkit.render.frontmatter` — what the templates are given and the layout loop
  that makes the index's page numbers exact.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opinionkit.render.frontmatter import (
        LINK_PREFIX,
        MAX_ROUNDS,
        SECTIONS,
        Enclosure,
        FrontMatter,
        FrontMatterInput,
        ImagingStudy,
        Section,
        render_front_matter,
        render_letter,
        render_letter_text,
    )
    from opinionkit.render.templating import (
        SHIPPED_PREFIX,
        compile_pdf,
        finalize,
        render_template,
        typst_string,
    )

# Imported on first use (PEP 562): the glyph check of `check` needs only
# opinionkit.render.fonts, and importing a submodule runs this file; Jinja and the
# front matter load when something renders.
_LAZY = {
    **dict.fromkeys(
        (
            "LINK_PREFIX",
            "MAX_ROUNDS",
            "SECTIONS",
            "Enclosure",
            "FrontMatter",
            "FrontMatterInput",
            "ImagingStudy",
            "Section",
            "render_front_matter",
            "render_letter",
            "render_letter_text",
        ),
        "opinionkit.render.frontmatter",
    ),
    **dict.fromkeys(
        ("SHIPPED_PREFIX", "compile_pdf", "finalize", "render_template", "typst_string"),
        "opinionkit.render.templating",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "LINK_PREFIX",
    "MAX_ROUNDS",
    "SECTIONS",
    "SHIPPED_PREFIX",
    "Enclosure",
    "FrontMatter",
    "FrontMatterInput",
    "ImagingStudy",
    "Section",
    "compile_pdf",
    "finalize",
    "render_front_matter",
    "render_letter",
    "render_letter_text",
    "render_template",
    "typst_string",
]

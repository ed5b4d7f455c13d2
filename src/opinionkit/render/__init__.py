"""Rendering the packet's front matter: Jinja templates -> Typst source -> PDF.

* :mod:`opinionkit.render.templating` — the sandboxed, escaping Jinja environment and
  the Typst compile step.
* :mod:`opinionkit.render.frontmatter` — what the templates are given and the layout loop
  that makes the index's page numbers exact.
"""

from opinionkit.render.frontmatter import (
    Enclosure,
    FrontMatter,
    FrontMatterInput,
    ImagingStudy,
    Section,
    render_front_matter,
    render_letter,
    render_letter_text,
)
from opinionkit.render.templating import finalize, render_template, typst_string

__all__ = [
    "Enclosure",
    "FrontMatter",
    "FrontMatterInput",
    "ImagingStudy",
    "Section",
    "finalize",
    "render_front_matter",
    "render_letter",
    "render_letter_text",
    "render_template",
    "typst_string",
]

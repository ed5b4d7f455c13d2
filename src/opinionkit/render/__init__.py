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

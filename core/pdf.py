"""Printable documents as PDF (WeasyPrint): a DPIA (compliance), a statement of reasons (audits).

One renderer for every app, so that every document is rendered with the same rule: the server fetches nothing a
document names (``refuse_fetch``). Text typed into a document (a DPIA section, a reference) can hold a URL, and
following it would let a user make the server request an address of their choosing. The stylesheet is a static file
read from disk. WeasyPrint is imported on first use: it is heavy, and only these pages need it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles import finders


def refuse_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
    """WeasyPrint's URL fetcher: the document links to nothing, so a URL in it is never fetched by the server."""
    raise ValueError(f"The PDF renderer fetches nothing ({url}).")


def render_pdf(html: str, stylesheet: str) -> bytes:
    """``html`` as PDF bytes with the print ``stylesheet`` (a static path, "css/dpia-print.css")."""
    import weasyprint  # heavy, and needed by the documents only

    path = finders.find(stylesheet)
    if not isinstance(path, str):
        raise FileNotFoundError(f"The print stylesheet {stylesheet} is not among the static files.")
    pdf = weasyprint.HTML(string=html, url_fetcher=refuse_fetch).write_pdf(stylesheets=[weasyprint.CSS(filename=path)])
    return bytes(pdf or b"")

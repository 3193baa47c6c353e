"""Cards that higher apps add to the registry's pages (lineage shows each object's upstream and downstream there).

The registry cannot import the apps above it (docs/architecture.md), so they register a panel from their
``AppConfig.ready``: a function of the request and the page's object returning HTML the template engine rendered
(every value escaped), or "" for nothing. A page shows its panels in the order they were registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils.safestring import SafeString

PAGES = ("dataset", "feature_set_version", "model", "model_version")

Panel = Callable[[HttpRequest, Any], SafeString]

_PANELS: dict[str, list[Panel]] = {page: [] for page in PAGES}


def register_panel(page: str, panel: Panel) -> None:
    if page not in _PANELS:
        raise ValueError(f"no registry page {page!r}; one of {', '.join(PAGES)}")
    if panel not in _PANELS[page]:
        _PANELS[page].append(panel)


def panels(page: str, request: HttpRequest, obj: Any) -> list[SafeString]:
    """The rendered panels of ``page`` for ``obj``, empty ones left out."""
    rendered = (panel(request, obj) for panel in _PANELS[page])
    return [html for html in rendered if html]

"""The dashboard's sections: what each signed-in user has to look at, contributed by the apps that know it.

Core is the lowest layer and cannot import the apps that hold releases, deployments or DPIAs (docs/architecture.md),
so each of them registers its sections from its ``AppConfig.ready`` (as with ``registry.panels`` and
``governance.gate.register_check``)::

    from core.dashboard import Section, Viewer, register_section, render_section

    def awaiting(request: HttpRequest, viewer: Viewer) -> SafeString:
        rows = Release.objects.restrict(viewer.user).filter(...)[:ROWS]   # restricted in SQL, a handful
        return render_section(request, "awaiting-signatures", "governance/dash/awaiting.html", {"rows": rows})

    register_section(Section("awaiting-signatures", applies=is_officer, render=awaiting, order=10))

``applies`` says whether the section is for the viewer, from the team roles read once per page (``is_officer``,
``is_builder``) or by a rule of the app's own at a fixed cost (governance: a seat on a board); ``render`` returns
HTML the template engine rendered (every value escaped), or "" for nothing. Whatever a section applies to, it reads
through ``Model.objects.restrict(viewer.user)``, so a user sees only what they may see; and it reads a fixed number
of rows with a fixed number of queries, so the page costs the same however long the lists behind it grow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from core.choices import Role

# How many rows a section lists before it links to the full list.
ROWS = 5


@dataclass(frozen=True)
class Viewer:
    """The signed-in user with the team roles they hold in any team (read once per dashboard)."""

    user: Any
    roles: frozenset[str]

    @property
    def is_superuser(self) -> bool:
        return bool(getattr(self.user, "is_superuser", False))

    def holds(self, *roles: str) -> bool:
        """Whether the user holds one of ``roles`` in some team (a superuser holds none by that alone)."""
        return bool(self.roles.intersection(roles))


def is_officer(viewer: Viewer) -> bool:
    """Compliance officers, and platform administrators, who oversee everything."""
    return viewer.is_superuser or viewer.holds(Role.COMPLIANCE_OFFICER)


def is_builder(viewer: Viewer) -> bool:
    """Those who build and release models: engineers and team admins."""
    return viewer.holds(Role.ENGINEER, Role.ADMIN)


@dataclass(frozen=True)
class Section:
    """One card of the dashboard. ``name`` is unique and stable (the card's HTML id is ``dash-<name>``); cards show
    by ``order``, then name."""

    name: str
    applies: Callable[[Viewer], bool]
    render: Callable[[HttpRequest, Viewer], SafeString]
    order: int = 100


_SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> None:
    """Add ``section``; registering the same one again is harmless, another under a taken name is an error."""
    existing = _SECTIONS.get(section.name)
    if existing is not None and existing != section:
        raise ValueError(f"a dashboard section named {section.name!r} is already registered")
    _SECTIONS[section.name] = section


def registered_sections() -> list[Section]:
    return sorted(_SECTIONS.values(), key=lambda section: (section.order, section.name))


def sections_for(request: HttpRequest, viewer: Viewer) -> list[SafeString]:
    """The rendered sections that apply to ``viewer``, in order, empty ones left out."""
    rendered: Iterable[SafeString] = (
        section.render(request, viewer) for section in registered_sections() if section.applies(viewer)
    )
    return [html for html in rendered if html]


def render_section(request: HttpRequest, name: str, template: str, context: dict[str, Any]) -> SafeString:
    """Section ``name``'s ``template`` (which extends ``core/_dashboard_section.html``) rendered with ``context``."""
    return mark_safe(render_to_string(template, {"section_name": name, **context}, request=request))  # noqa: S308 (rendered by the template engine, every value escaped)

"""The navigation: every page the dashboard will have, in menu order.

An entry becomes a link as soon as a GET route serves its path; until then it is listed as
"coming". Adding a page is adding its router to routers.py — nothing to change here unless the
page is new to the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.routing import APIRoute


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str


NAV = (
    NavItem("Overview", "/"),
    NavItem("Campaigns", "/campaigns"),
    NavItem("Reports", "/reports"),
    NavItem("Conversions", "/conversions"),
    NavItem("Clicks", "/clicks"),
    NavItem("Postback log", "/postback-log"),
    NavItem("Deliveries", "/deliveries"),
    NavItem("Integration wizard", "/wizard"),
    NavItem("Setup", "/setup"),
    NavItem("Settings", "/settings"),
)


@dataclass(frozen=True)
class NavLink:
    label: str
    path: str
    ready: bool
    current: bool


def _page_paths(request: Request) -> frozenset[str]:
    state = request.app.state
    paths: frozenset[str] | None = getattr(state, "dashboard_paths", None)
    if paths is None:
        paths = frozenset(
            route.path
            for route in request.app.routes
            if isinstance(route, APIRoute) and "GET" in (route.methods or ())
        )
        state.dashboard_paths = paths
    return paths


def nav_links(request: Request) -> list[NavLink]:
    paths = _page_paths(request)
    here = request.url.path
    return [
        NavLink(
            item.label,
            item.path,
            ready=item.path in paths,
            current=here == item.path or (item.path != "/" and here.startswith(item.path + "/")),
        )
        for item in NAV
    ]

"""The navigation: every page the dashboard will have, in menu order.

An entry becomes a link as soon as a router in routers.py serves its path with GET; until then
it is listed as "coming". Adding a page is adding its router to routers.py; nothing changes here
unless the page is new to the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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


@lru_cache(maxsize=1)
def _page_paths() -> frozenset[str]:
    """Paths with a GET page among the dashboard's routers (routers.py)."""
    from postback.dashboard.routers import ROUTERS

    return frozenset(
        route.path
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    )


def nav_links(request: Request) -> list[NavLink]:
    paths = _page_paths()
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

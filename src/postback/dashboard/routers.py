"""Every dashboard router. A new page is a module with a router, added here; its entry in the
navigation (nav.py) becomes a link once its path is routed."""

from __future__ import annotations

from fastapi import APIRouter

from postback.dashboard.login import router as login
from postback.dashboard.overview import router as overview
from postback.dashboard.settings import router as settings
from postback.dashboard.static import router as static

ROUTERS: list[APIRouter] = [
    static,
    login,
    overview,
    settings,
]

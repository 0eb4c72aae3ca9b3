"""Every dashboard router. A new page is a module with a router, added here; its entry in the
navigation (nav.py) becomes a link once its path is routed."""

from __future__ import annotations

from fastapi import APIRouter

from postback.dashboard.campaigns_page import router as campaigns_page
from postback.dashboard.debugger_clicks import router as debugger_clicks
from postback.dashboard.debugger_conversions import router as debugger_conversions
from postback.dashboard.debugger_deliveries import router as debugger_deliveries
from postback.dashboard.debugger_postbacks import router as debugger_postbacks
from postback.dashboard.login import router as login
from postback.dashboard.overview import router as overview
from postback.dashboard.reports_page import router as reports_page
from postback.dashboard.settings import router as settings
from postback.dashboard.setup import router as setup
from postback.dashboard.setup_networks import router as setup_networks
from postback.dashboard.setup_offers import router as setup_offers
from postback.dashboard.static import router as static
from postback.dashboard.wizard import router as wizard

ROUTERS: list[APIRouter] = [
    static,
    login,
    overview,
    reports_page,
    debugger_conversions,
    debugger_clicks,
    debugger_postbacks,
    debugger_deliveries,
    campaigns_page,
    setup,
    setup_networks,
    setup_offers,
    wizard,
    settings,
]

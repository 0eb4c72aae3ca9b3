"""Every admin API router, in the order they appear in the OpenAPI document.

Each router requires an API key (`dependencies=REQUIRE_API_KEY`); a test checks that no
/api/v1 route answers without one.
"""

from __future__ import annotations

from fastapi import APIRouter

from postback.api_keys.endpoints import router as api_keys
from postback.campaigns.endpoints import router as campaigns
from postback.clicks.endpoints import router as clicks
from postback.conversions.endpoints import router as conversions
from postback.deliveries.endpoints import router as deliveries
from postback.integrations.endpoints import router as integrations
from postback.lab.endpoints import router as lab
from postback.landers.endpoints import router as landers
from postback.networks.endpoints import router as networks
from postback.offers.endpoints import router as offers
from postback.postback_log.endpoints import router as postback_log
from postback.reports.endpoints import router as reports
from postback.templates.endpoints import router as templates
from postback.traffic_sources.endpoints import router as traffic_sources

ROUTERS: list[APIRouter] = [
    traffic_sources,
    networks,
    offers,
    landers,
    campaigns,
    clicks,
    conversions,
    postback_log,
    deliveries,
    reports,
    api_keys,
    templates,
    integrations,
    lab,
]

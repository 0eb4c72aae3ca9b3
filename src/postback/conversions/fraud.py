"""The fraud signals of a conversion: its click's, and what the conversion itself adds.

Postbacks come from the advertiser's server, so the request's own IP says nothing about the
visitor. The conversion's user IP is the one the network reports (`ip`, `user_ip`, ... in the
postback's parameters) or, for a browser-side conversion, the browser's (`user_ip=`): only
then are the IP signals worked out. Its country is the one reported, else the GeoIP country of
that IP.

- fast_conversion: converted sooner after the click than the threshold (CTIT).
- ip_mismatch: the user IP is not the click's (weak alone: a phone moves from Wi-Fi to 4G).
- geo_mismatch: the country is not the click's (stronger: proxies, click injection).
- multi_ip_click: an earlier conversion of the same click was reported from another user IP:
  the click ID travels between devices (shared or stuffed links).
- payout_outlier: the payout is more than N times the offer's default payout.

Cost: a subtraction and a comparison per postback; the one query (earlier conversions of the
click, by its index) only for a conversion that carries a user IP.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from postback.clicks.visitor import country_of
from postback.conversions import repository
from postback.conversions.fx import StaleRate, UnknownCurrency, rates
from postback.conversions.records import ClickRecord
from postback.fraud import flags
from postback.fraud.flags import Flag

# The parameters a network reports the converting visitor's IP and country in.
USER_IP_PARAMS = ("user_ip", "ip", "visitor_ip", "client_ip", "ip_address", "userip")
COUNTRY_PARAMS = ("country", "country_code", "geo")


def conversion_flags(
    conn: Connection,
    click: ClickRecord,
    at: datetime,
    payout_micros: int,
    params: Mapping[str, Any],
    account_currency: str,
    user_ip: str | None = None,
) -> int:
    limits = flags.thresholds()
    found = click.flags
    if limits.fast_conversion and (at - click.created_at).total_seconds() < limits.fast_conversion:
        found |= Flag.FAST_CONVERSION
    if _outlier(click, payout_micros, limits.payout_outlier_factor, account_currency, at):
        found |= Flag.PAYOUT_OUTLIER
    ip = _address(user_ip) if user_ip else reported_ip(params)
    country = reported_country(params) or (country_of(ip) if ip else None)
    if country and click.country and country != click.country:
        found |= Flag.GEO_MISMATCH
    if ip is not None:
        if click.ip and ip != _address(click.ip):
            found |= Flag.IP_MISMATCH
        if _other_ips(conn, click.id, ip):
            found |= Flag.MULTI_IP_CLICK
    return int(found)


def reported_ip(params: Mapping[str, Any]) -> str | None:
    for name in USER_IP_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            return _address(value)
    return None


def reported_country(params: Mapping[str, Any]) -> str | None:
    for name in COUNTRY_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and len(value.strip()) == 2 and value.strip().isalpha():
            return value.strip().upper()
    return None


def _address(value: str) -> str | None:
    """The IP's canonical text (so "::ffff:1.2.3.4" style spellings compare), or None."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _other_ips(conn: Connection, click_id: str, ip: str) -> bool:
    for params in repository.conversion_params_of_click(conn, click_id):
        earlier = reported_ip(params or {})
        if earlier is not None and earlier != ip:
            return True
    return False


def _outlier(click: ClickRecord, payout: int, factor: int, account: str, at: datetime) -> bool:
    if factor <= 0 or click.offer_payout_micros <= 0:
        return False
    default = click.offer_payout_micros
    if click.offer_currency != account:
        try:
            rate = rates.rate(click.offer_currency, account, at.date())
        except (UnknownCurrency, StaleRate):
            return False  # no rate to compare with: not a signal
        default = int(Decimal(default) * rate.value)
    return payout > factor * default

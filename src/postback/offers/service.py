"""Offers: a destination URL template with its default payout and currency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from postback.config import Settings
from postback.kit import linter
from postback.kit.errors import NotFound
from postback.kit.fields import check_currency, field_error
from postback.kit.money import to_micros
from postback.models import Network, Offer
from postback.networks import repository as networks
from postback.offers import repository
from postback.offers.schemas import OfferCreate, OfferUpdate
from postback.templates import registry


def create(session: Session, body: OfferCreate, settings: Settings) -> Offer:
    network = _network(session, body.network_id) if body.network_id is not None else None
    linter.enforce("url", lint_url(session, body.url, body.network_id))
    default_currency = network.currency if network else settings.account_currency
    offer = Offer(
        name=body.name,
        url=body.url,
        network_id=body.network_id,
        payout_micros=to_micros(body.payout) if body.payout is not None else 0,
        currency=check_currency(body.currency or default_currency, settings.account_currency),
        daily_cap=body.daily_cap,
        cap_timezone=body.cap_timezone,
        cap_fallback_offer_id=body.cap_fallback_offer_id,
    )
    if body.cap_fallback_offer_id is not None:
        _check_fallback(session, None, body.cap_fallback_offer_id)
    return repository.add(session, offer)


def get(session: Session, offer_id: int) -> Offer:
    offer = repository.get(session, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id} does not exist")
    return offer


def list_offers(
    session: Session,
    after: int | None,
    limit: int,
    include_archived: bool,
    network_id: int | None = None,
) -> Sequence[Offer]:
    return repository.list_after(
        session, after, limit, include_archived=include_archived, network_id=network_id
    )


def update(session: Session, offer_id: int, body: OfferUpdate, settings: Settings) -> Offer:
    offer = get(session, offer_id)
    changes: dict[str, Any] = body.changes()
    if changes.get("network_id") is not None:
        _network(session, changes["network_id"])
    if "currency" in changes:
        check_currency(changes["currency"], settings.account_currency)
    if "payout" in changes:
        changes["payout_micros"] = to_micros(changes.pop("payout"))
    if changes.get("cap_fallback_offer_id") is not None:
        _check_fallback(session, offer.id, changes["cap_fallback_offer_id"])
    if "url" in changes or "network_id" in changes:
        url, network_id = changes.get("url", offer.url), changes.get("network_id", offer.network_id)
        linter.enforce("url", lint_url(session, url, network_id))
    for name, value in changes.items():
        setattr(offer, name, value)
    session.flush()
    return offer


def archive(session: Session, offer_id: int, settings: Settings) -> Offer:
    return update(session, offer_id, OfferUpdate(archived=True), settings)


def lint_url(session: Session, url: str, network_id: int | None) -> list[linter.Finding]:
    """The offer URL's findings; its network's template says where the click ID should go."""
    network = networks.get(session, network_id) if network_id else None
    template = registry.get(network.template) if network else None
    side = template.network if template and template.name != registry.CUSTOM else None
    return linter.lint_url(url, "offer", click_param=side.offer_param if side else None)


def url_warnings(session: Session, offer: Offer) -> list[linter.UrlWarning]:
    return linter.warnings_of("url", lint_url(session, offer.url, offer.network_id))


def _check_fallback(session: Session, offer_id: int | None, fallback_id: int) -> None:
    """The fallback must be a live offer; a chain of fallbacks is followed one step only."""
    if fallback_id == offer_id:
        raise field_error("cap_fallback_offer_id", "an offer cannot be its own fallback")
    fallback = repository.get(session, fallback_id)
    if fallback is None:
        raise field_error("cap_fallback_offer_id", f"offer {fallback_id} does not exist")
    if fallback.archived:
        raise field_error("cap_fallback_offer_id", f"offer {fallback_id} is archived")


def _network(session: Session, network_id: int) -> Network:
    # A reference inside a body is a validation error (422); 404 is kept for the URL's resource.
    network = networks.get(session, network_id)
    if network is None:
        raise field_error("network_id", f"network {network_id} does not exist")
    if network.archived:
        raise field_error("network_id", f"network {network_id} is archived")
    return network

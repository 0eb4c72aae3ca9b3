"""Affiliate networks: their postback key, secret, IP allowlist and postback rules."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from postback.config import Settings
from postback.kit.errors import NotFound
from postback.kit.fields import check_currency, field_error
from postback.kit.ids import new_key
from postback.models import Network
from postback.networks import repository
from postback.networks.schemas import NetworkCreate, NetworkUpdate
from postback.templates import generators, registry
from postback.templates.schemas import Template


def create(session: Session, body: NetworkCreate, settings: Settings) -> Network:
    data = body.model_dump(exclude={"no_secret"})
    if body.secret is None and not body.no_secret:
        data["secret"] = new_secret()  # secure by default: opting out is explicit
    data.update(_template_rules(body.template, body.model_fields_set))
    data["currency"] = check_currency(
        body.currency or settings.account_currency, settings.account_currency
    )
    data["lookback_days"] = body.lookback_days or settings.default_lookback.days
    return repository.add(session, Network(key=_unused_key(session), **data))


def get(session: Session, network_id: int) -> Network:
    network = repository.get(session, network_id)
    if network is None:
        raise NotFound(f"network {network_id} does not exist")
    return network


def list_networks(
    session: Session, after: int | None, limit: int, include_archived: bool
) -> Sequence[Network]:
    return repository.list_after(session, after, limit, include_archived=include_archived)


def update(session: Session, network_id: int, body: NetworkUpdate, settings: Settings) -> Network:
    network = get(session, network_id)
    changes = body.changes()
    if "currency" in changes:
        check_currency(changes["currency"], settings.account_currency)
    if "template" in changes and changes["template"] != network.template:
        changes = {**_template_rules(changes["template"], set(changes)), **changes}
    for name, value in changes.items():
        setattr(network, name, value)
    session.flush()
    return network


def archive(session: Session, network_id: int, settings: Settings) -> Network:
    return update(session, network_id, NetworkUpdate(archived=True), settings)


def postback_url(public_url: str, network: Network, *, with_secret: bool) -> str:
    """The URL to paste into the network: its own macros, in its own syntax."""
    template = generators.template_or_custom(network.template)
    secret = network.secret if with_secret else None
    return generators.network_postback_url(public_url, network.key, template, secret)


def network_template(name: str) -> Template:
    template = registry.get(name)
    if template is None:
        raise field_error("template", f"no template {name!r}: one of {', '.join(registry.names())}")
    if template.network is None:
        raise field_error("template", f"{template.title} sends clicks, not postbacks")
    return template


def _template_rules(name: str, given: set[str]) -> dict[str, Any]:
    """A network made from a template reads postbacks the way that system sends them."""
    side = network_template(name).network
    assert side is not None
    rules = {
        "events_case_insensitive": network_template(name).events_case_insensitive,
        "aliases": dict(side.aliases),
        "status_map": dict(side.status_map),
        "duplicate_mode": side.duplicate_mode,
    }
    return {name: value for name, value in rules.items() if name not in given}


def new_secret() -> str:
    """A secret token: 32 URL-safe characters, so it pastes into a URL as it is."""
    return secrets.token_urlsafe(24)


def is_insecure(network: Network) -> bool:
    """No secret stands behind its postbacks (an IP allowlist alone still admits anything
    sent from those addresses, by anyone on them)."""
    return not network.secret and not network.signing_secret


def warnings(network: Network) -> list[str]:
    """What is unsafe about a network, in plain words, for its API answer and its page."""
    if not is_insecure(network):
        return []
    guard = (
        "only its IP allowlist guards its postbacks"
        if network.allowed_ips
        else "anyone who knows a click ID (visitors see theirs in the offer URL) can report a "
        "conversion for it, with any payout"
    )
    return [
        f"This network has no secret token: {guard}. Set a secret token and paste the new "
        "postback URL into the network."
    ]


def mask_secret(secret: str | None) -> str | None:
    """Enough to recognise a secret, not to use it: the last 4 characters of a long one."""
    if not secret:
        return secret
    return "****" + secret[-4:] if len(secret) >= 16 else "****"


def _unused_key(session: Session) -> str:
    # 32^10 keys make a clash all but impossible; the unique constraint is the real guard.
    for _ in range(5):
        key = new_key()
        if not repository.key_exists(session, key):
            return key
    raise RuntimeError("could not find an unused network key")

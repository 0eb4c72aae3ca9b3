"""Affiliate networks: their postback key, secret, IP allowlist and postback rules."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote

from sqlalchemy.orm import Session

from postback.config import Settings
from postback.kit.errors import NotFound
from postback.kit.fields import check_currency
from postback.kit.ids import new_key
from postback.models import Network
from postback.networks import repository
from postback.networks.schemas import NetworkCreate, NetworkUpdate

# The parameters our receiver reads, with the placeholders the network fills in.
POSTBACK_QUERY = "clickid={clickid}&payout={payout}&txid={txid}"


def create(session: Session, body: NetworkCreate, settings: Settings) -> Network:
    data = body.model_dump()
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
    for name, value in changes.items():
        setattr(network, name, value)
    session.flush()
    return network


def archive(session: Session, network_id: int, settings: Settings) -> Network:
    return update(session, network_id, NetworkUpdate(archived=True), settings)


def postback_url(public_url: str, network: Network, *, with_secret: bool) -> str:
    url = f"{public_url.rstrip('/')}/postback/{network.key}?{POSTBACK_QUERY}"
    if with_secret and network.secret:
        url += "&token=" + quote(network.secret, safe="")
    return url


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

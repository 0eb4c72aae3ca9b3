"""`/api/v1/networks`: create, read, list, update, archive.

Secrets are returned in full on create, on GET by id and on PATCH, because the user must paste
them into the network (the token is part of `postback_url`). Lists mask them and leave the token
out of the URL, so a list shown on screen or logged does not leak every network's secrets.
"""

from __future__ import annotations

from fastapi import APIRouter

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.deps import RuntimeDep
from postback.kit.pagination import (
    DEFAULT_LIMIT,
    CursorQuery,
    IdPath,
    LimitQuery,
    Page,
    int_cursor,
    page_of,
)
from postback.kit.session import ReadSessionDep, SessionDep, config_changed
from postback.models import Network
from postback.networks import service
from postback.networks.schemas import NetworkCreate, NetworkOut, NetworkUpdate
from postback.runtime import Runtime

router = APIRouter(prefix="/networks", tags=["networks"], dependencies=REQUIRE_API_KEY)


def _out(network: Network, runtime: Runtime, *, reveal: bool) -> NetworkOut:
    url = service.postback_url(runtime.settings.public_url, network, with_secret=reveal)
    out = NetworkOut.model_validate(network)
    if not reveal:
        out.secret = service.mask_secret(network.secret)
        out.signing_secret = service.mask_secret(network.signing_secret)
    out.postback_url = url
    out.insecure = service.is_insecure(network)
    out.warnings = service.warnings(network)
    return out


@router.get("", response_model=Page[NetworkOut])
def list_networks(
    session: ReadSessionDep,
    runtime: RuntimeDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    include_archived: bool = False,
) -> Page[NetworkOut]:
    rows = service.list_networks(session, int_cursor(cursor), limit + 1, include_archived)
    return page_of(rows, limit, lambda n: _out(n, runtime, reveal=False), lambda n: n.id)


@router.post("", status_code=201, response_model=NetworkOut)
def create_network(body: NetworkCreate, session: SessionDep, runtime: RuntimeDep) -> NetworkOut:
    network = service.create(session, body, runtime.settings)
    config_changed(session, runtime)
    return _out(network, runtime, reveal=True)


@router.get("/{network_id}", response_model=NetworkOut)
def get_network(network_id: IdPath, session: ReadSessionDep, runtime: RuntimeDep) -> NetworkOut:
    return _out(service.get(session, network_id), runtime, reveal=True)


@router.patch("/{network_id}", response_model=NetworkOut)
def update_network(
    network_id: IdPath, body: NetworkUpdate, session: SessionDep, runtime: RuntimeDep
) -> NetworkOut:
    network = service.update(session, network_id, body, runtime.settings)
    config_changed(session, runtime)
    return _out(network, runtime, reveal=True)


@router.delete("/{network_id}", response_model=NetworkOut)
def archive_network(network_id: IdPath, session: SessionDep, runtime: RuntimeDep) -> NetworkOut:
    network = service.archive(session, network_id, runtime.settings)
    config_changed(session, runtime)
    return _out(network, runtime, reveal=True)

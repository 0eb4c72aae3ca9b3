"""No network secret in the postback log, the application log, a page or an API answer, whatever
step refused the request and however the secret was spelled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from postback.conversions import repository
from postback.models import PostbackLogEntry
from postback.users.tables import Role
from tests.conftest import ADMIN_KEY, LiveServer
from tests.factories import click, make_setup
from tests.signin import csrf_of, make_user, signed_in_client

CANARY = "Canary+Secret/42=zz-0123"
SIGNING = "SigningCanary-9876543210"
OTHER = "OtherNetworkCanary-5555"
ALIAS = "sec"


def spellings(secret: str) -> set[str]:
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(secret),
        orjson.dumps(secret).decode()[1:-1],
    }


FORBIDDEN = spellings(CANARY) | spellings(SIGNING) | spellings(OTHER)


def assert_clean(where: str, content: str) -> None:
    leaked = [form for form in FORBIDDEN if form in content]
    assert not leaked, f"{where} shows {leaked}: {content[:2000]}"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def app_log() -> Iterator[Captured]:
    logger = logging.getLogger("postback")
    handler, level = Captured(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def log_rows(live: LiveServer) -> list[PostbackLogEntry]:
    with live.runtime.db.session() as s:
        return list(s.scalars(select(PostbackLogEntry).order_by(PostbackLogEntry.id)).all())


def row_text(entry: PostbackLogEntry) -> str:
    parsed = orjson.dumps(entry.parsed).decode() if entry.parsed else ""
    return " ".join([entry.path, entry.query, entry.body, parsed])


def send_every_refusal(http: httpx.Client, key: str, cid: str) -> None:
    """Every kind of request, refused at every step, carrying the secret every way."""
    net = f"/postback/{key}"
    json_type = {"content-type": "application/json"}
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    sent: list[httpx.Response] = [
        http.get(net, params={"clickid": cid, "token": CANARY}),  # accepted
        http.get(net, params={"clickid": cid, ALIAS: CANARY}),  # accepted, the network's alias
        http.post(net, content='{"token": "' + CANARY + '", ', headers=json_type),
        http.post(net, content='[{"token": "' + CANARY + '"}]', headers=json_type),
        http.post(net, content='{"security_token": "' + CANARY + '", "x": [1,', headers=json_type),
        http.post(net, content='{"\\u0074oken": "' + CANARY + '", "clickid": 5}'),
        http.post(net, json={"clickid": "nope", "data": {"token": CANARY}}),
        http.request("PUT", net + f"?token={quote(CANARY, safe='')}", content=f"key={CANARY}"),
        http.request("DELETE", net + f"?{ALIAS}={quote_plus(CANARY)}"),
        http.post(
            net,
            content=f"key={quote_plus(CANARY)}&token={quote(CANARY, safe='')}",
            headers=form_type,
        ),
        http.post(
            net, content=f"clickid={cid}&{ALIAS}=wrong&key={quote_plus(CANARY)}", headers=form_type
        ),
        http.get("/postback?clickid=unknown&security_token=" + quote_plus(CANARY)),
        http.get("/postback?clickid=unknown&" + ALIAS + "=" + quote(CANARY, safe="")),
        http.get("/postback?clickid=unknown&%74oken=" + quote(CANARY, safe="")),
        http.get("/postback?clickid=unknown&TOKEN=" + quote(OTHER)),
        http.get(f"/postback?clickid={cid}&token={OTHER}"),  # another network's secret
        http.get(f"/postback?clickid={cid}&token=x&signature={SIGNING}"),
        http.get(f"{net}/{quote(CANARY, safe='')}?clickid={cid}"),  # in a path segment
        http.get(f"/postback/{quote(CANARY, safe='')}?clickid={cid}"),
        http.get(f"/name/{quote(CANARY, safe='')}/at?subid_short={cid}"),
        http.get(net, params={"clickid": "{clickid}", "token": CANARY}),
        http.get(net, params={"clickid": cid, "token": CANARY, "payout": "-1"}),
    ]
    statuses = [r.status_code for r in sent]
    assert statuses[:2] == [200, 200], [r.text for r in sent[:2]]
    assert all(s < 500 for s in statuses), statuses
    assert all(s >= 400 for s in statuses[2:]), statuses


@pytest.fixture
def setup_ids(live: LiveServer, http: httpx.Client) -> tuple[str, str]:
    setup = make_setup(
        live,
        network={"secret": CANARY, "signing_secret": None, "aliases": {ALIAS: "token"}},
    )
    make_setup(live, network={"secret": OTHER, "signing_secret": SIGNING})
    return setup.network_key, click(http, setup)


def test_no_secret_in_the_postback_log_or_the_application_log(
    live: LiveServer, http: httpx.Client, setup_ids: tuple[str, str], app_log: Captured
) -> None:
    key, cid = setup_ids
    send_every_refusal(http, key, cid)
    rows = log_rows(live)
    assert len(rows) == 22
    for entry in rows:
        assert_clean(f"log row {entry.reason}", row_text(entry))
    assert_clean("application log", "\n".join(app_log.lines))
    # Still a useful log: the masked names and the other parameters are kept.
    assert any("token=***" in e.query for e in rows)
    assert any(f"clickid={cid}" in e.query for e in rows)


def test_no_secret_on_the_log_pages_the_replay_or_the_api(
    live: LiveServer, http: httpx.Client, setup_ids: tuple[str, str]
) -> None:
    key, cid = setup_ids
    send_every_refusal(http, key, cid)
    rows = log_rows(live)
    api = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert_clean("API list", http.get("/api/v1/postback-log?limit=100", headers=api).text)
    for entry in rows:
        assert_clean("API entry", http.get(f"/api/v1/postback-log/{entry.id}", headers=api).text)
        replayed = http.post(f"/api/v1/postback-log/{entry.id}/replay", headers=api)
        assert replayed.status_code == 200
        assert_clean("API replay", replayed.text)
    with signed_in_client(live, make_user(live, Role.VIEWER)) as viewer:
        assert_clean("log page", viewer.get("/postback-log").text)
        for entry in rows:
            assert_clean("entry page", viewer.get(f"/postback-log/{entry.id}").text)
    with signed_in_client(live, make_user(live, Role.ADMIN)) as admin:
        for entry in rows:
            page = admin.get(f"/postback-log/{entry.id}").text
            done = admin.post(
                f"/postback-log/{entry.id}/replay", data={"csrf_token": csrf_of(page)}
            )
            assert done.status_code == 200
            assert_clean("replay page", done.text)


def test_a_server_fault_logs_no_secret(
    live: LiveServer,
    http: httpx.Client,
    setup_ids: tuple[str, str],
    app_log: Captured,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key, cid = setup_ids

    def fault(*_args: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(repository, "insert_conversions", fault)
    monkeypatch.setattr(repository, "insert_conversion", fault)
    answer = http.get(f"/postback/{key}", params={"clickid": cid, "token": CANARY})
    assert answer.status_code == 503
    monkeypatch.undo()
    assert any("the disk is on fire" in line for line in app_log.lines)
    assert_clean("application log", "\n".join(app_log.lines))
    assert [e.reason for e in log_rows(live)] == ["server_error"]
    assert_clean("log row", row_text(log_rows(live)[0]))


def test_a_failed_statement_does_not_show_its_values(live: LiveServer) -> None:
    with pytest.raises(Exception) as failed, live.runtime.db.engine.connect() as conn:
        conn.execute(text("SELECT no_such_column FROM networks WHERE secret = :s"), {"s": CANARY})
    assert CANARY not in str(failed.value)

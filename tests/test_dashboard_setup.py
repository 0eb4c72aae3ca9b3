"""The set-up pages and the integration wizard over plain HTTP: who may change what, CSRF,
the API's validation shown next to the fields, archiving, and bad input that is never a 500.

Browser tests of the same pages are in tests/e2e/test_setup_pages.py and test_wizard.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from postback.models import Campaign, Click, Network, Offer, TrafficSource
from tests.conftest import LiveServer
from tests.signin import csrf_of, make_user, signed_in_client


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "admin")) as client:
        yield client


@pytest.fixture
def viewer(live: LiveServer) -> Iterator[httpx.Client]:
    with signed_in_client(live, make_user(live, "viewer")) as client:
        yield client


def count(live: LiveServer, model: Any) -> int:
    with live.runtime.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def post_form(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Load `page` for its CSRF token, then send the form to `action`, as a browser would."""
    html = client.get(page)
    assert html.status_code == 200, html.text
    return client.post(action, data={"csrf_token": csrf_of(html.text), **data})


def text_of(resp: httpx.Response) -> str:
    return unescape(resp.text)


def new_network(admin: httpx.Client, template: str = "binom", **extra: str) -> int:
    resp = post_form(
        admin,
        f"/setup/networks/new?template={template}",
        "/setup/networks",
        {"template": template, "name": f"My {template}", **extra},
    )
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].split("/")[-1].split("?")[0])


def new_offer(admin: httpx.Client, network_id: int, url: str) -> httpx.Response:
    data = {"name": "Offer", "url": url, "network_id": str(network_id), "payout": "2.50"}
    return post_form(admin, "/setup/offers/new", "/setup/offers", data)


def new_source(admin: httpx.Client) -> int:
    data = {"template": "adsterra", "name": "Adsterra push", "postback_variant": "with_payout"}
    data |= {"setting_account": "myname", "status_approved": "on"}
    resp = post_form(admin, "/setup/traffic-sources/new?template=adsterra",
                     "/setup/traffic-sources", data)  # fmt: skip
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].split("/")[-1].split("?")[0])


def new_campaign(admin: httpx.Client, source_id: int, offer_id: int) -> int:
    data = {"name": "Push US", "traffic_source_id": str(source_id), "offer_rows": "3"}
    data |= {"offer_0": str(offer_id), "offer_weight_0": "70", "lander_rows": "2"}
    resp = post_form(admin, "/campaigns/new", "/campaigns", data)
    assert resp.status_code == 303, resp.text
    return int(resp.headers["location"].split("/")[-1].split("?")[0])


PAGES = [
    "/setup",
    "/setup?archived=true",
    "/setup/traffic-sources/new",
    "/setup/traffic-sources/new?template=propellerads",
    "/setup/networks/new",
    "/setup/networks/new?template=everflow",
    "/setup/offers/new",
    "/setup/landers/new",
    "/campaigns",
    "/campaigns/new",
    "/wizard",
    "/wizard?template=binom",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_set_up_page_opens_for_a_viewer_read_only(viewer: httpx.Client, path: str) -> None:
    resp = viewer.get(path)
    assert resp.status_code == 200, resp.text
    assert "Create" not in resp.text or "<fieldset disabled>" in resp.text


def test_a_viewer_gets_403_and_nothing_is_saved(live: LiveServer, viewer: httpx.Client) -> None:
    data = {"name": "Offer", "url": "https://offer.test/?c={clickid}"}
    resp = post_form(viewer, "/setup/offers/new", "/setup/offers", data)
    assert resp.status_code == 403
    assert "can look but not change" in resp.text
    assert count(live, Offer) == 0


def test_a_form_without_its_csrf_token_is_refused(live: LiveServer, admin: httpx.Client) -> None:
    resp = admin.post("/setup/offers", data={"name": "O", "url": "https://o.test/?c={clickid}"})
    assert resp.status_code == 403
    assert count(live, Offer) == 0
    forged = {"csrf_token": "x" * 43, "name": "O", "url": "https://o.test/?c={clickid}"}
    assert admin.post("/setup/offers", data=forged).status_code == 403
    assert count(live, Offer) == 0


def test_a_bad_offer_url_shows_the_linter_error_inline_keeps_the_input_and_saves_nothing(
    live: LiveServer, admin: httpx.Client
) -> None:
    network_id = new_network(admin)
    url = "https://offer.test/?externalid=##SUB_ID_SHORT##"
    resp = new_offer(admin, network_id, url)
    assert resp.status_code == 422
    page = text_of(resp)
    assert "Nothing was saved." in page
    assert 'id="f-url-error"' in page
    assert "##SUB_ID_SHORT## is a ##X## placeholder (Adsterra style)" in page
    assert "Has no {clickid}: the network cannot send the conversion back" in page
    assert f'value="{url}"' in page  # what the user typed is still there
    assert 'value="2.50"' in page
    assert count(live, Offer) == 0


def test_a_saved_offer_shows_the_linter_warnings_next_to_its_url(admin: httpx.Client) -> None:
    network_id = new_network(admin)  # Binom reads the click ID from externalid
    resp = new_offer(admin, network_id, "https://offer.test/?sub={clickid}")
    assert resp.status_code == 303
    page = text_of(admin.get(resp.headers["location"]))
    assert "Offer saved." in page
    assert "Warning: this network returns the value of its externalid parameter" in page


def test_a_traffic_source_from_a_template_gets_its_postback_url_and_settings_are_checked(
    live: LiveServer, admin: httpx.Client
) -> None:
    data = {"template": "adsterra", "name": "A", "postback_variant": "with_payout"}
    resp = post_form(admin, "/setup/traffic-sources/new?template=adsterra",
                     "/setup/traffic-sources", data)  # fmt: skip
    assert resp.status_code == 422
    assert "needs account" in text_of(resp)
    assert count(live, TrafficSource) == 0
    source_id = new_source(admin)
    with live.runtime.db.session() as session:
        source = session.get(TrafficSource, source_id)
        assert source is not None
        assert source.postback_url == (
            "http://www.pbterra.com/name/myname/at?subid_short={external_id}&atpay={payout}"
        )
        assert (source.external_id_param, source.postback_statuses) == ("subid", ["approved"])


def test_an_edit_that_the_service_refuses_changes_nothing(
    live: LiveServer, admin: httpx.Client
) -> None:
    source_id = new_source(admin)
    page = f"/setup/traffic-sources/{source_id}"
    data = {"template": "adsterra", "name": "Renamed", "postback_url": "ftp://x.test/{payout}"}
    resp = post_form(admin, page, page, data)
    assert resp.status_code == 422
    assert "Must be an http:// or https:// URL with a host" in text_of(resp)
    with live.runtime.db.session() as session:
        source = session.get(TrafficSource, source_id)
        assert source is not None and source.name == "Adsterra push"


def test_archive_and_restore_an_offer(live: LiveServer, admin: httpx.Client) -> None:
    network_id = new_network(admin)
    offer_id = int(new_offer(admin, network_id, "https://o.test/?externalid={clickid}")
                   .headers["location"].split("/")[-1].split("?")[0])  # fmt: skip
    page = f"/setup/offers/{offer_id}"
    resp = post_form(admin, page, f"{page}/archive", {})
    assert resp.status_code == 303
    assert "archived" in admin.get(resp.headers["location"]).text
    with live.runtime.db.session() as session:
        assert session.get(Offer, offer_id).archived  # type: ignore[union-attr]
    assert f'href="/setup/offers/{offer_id}"' not in admin.get("/setup").text
    assert post_form(admin, page, f"{page}/restore", {}).status_code == 303
    with live.runtime.db.session() as session:
        assert not session.get(Offer, offer_id).archived  # type: ignore[union-attr]
    assert post_form(admin, page, f"{page}/explode", {}).status_code == 400


def test_a_campaign_made_from_the_form_shows_the_links_to_paste(
    live: LiveServer, admin: httpx.Client
) -> None:
    network_id = new_network(admin, secret="s3cr3t")
    offer = new_offer(admin, network_id, "https://o.test/?externalid={clickid}")
    offer_id = int(offer.headers["location"].split("/")[-1].split("?")[0])
    campaign_id = new_campaign(admin, new_source(admin), offer_id)
    page = text_of(admin.get(f"/campaigns/{campaign_id}?saved=1"))
    with live.runtime.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        network = session.get(Network, network_id)
        assert campaign is not None and network is not None
        assert campaign.paths[0]["offers"] == [[offer_id, 70]]
    link = f"{live.url}/c/{campaign.key}?subid=##SUB_ID_SHORT##&placement=##PLACEMENT_ID##"
    assert f'aria-labelledby="tracking-link-label">{link}</code>' in page
    assert f"{live.url}/postback/{network.key}?cnv_id={{externalid}}" in page
    assert "&token=s3cr3t" in page
    assert "http://www.pbterra.com/name/myname/at?subid_short={external_id}&atpay={payout}" in page


def test_a_viewer_sees_the_links_without_the_network_secret(
    live: LiveServer, admin: httpx.Client, viewer: httpx.Client
) -> None:
    network_id = new_network(admin, secret="s3cr3t")
    offer = new_offer(admin, network_id, "https://o.test/?externalid={clickid}")
    offer_id = int(offer.headers["location"].split("/")[-1].split("?")[0])
    campaign_id = new_campaign(admin, new_source(admin), offer_id)
    for path in (f"/campaigns/{campaign_id}", f"/setup/networks/{network_id}"):
        page = viewer.get(path).text
        assert "s3cr3t" not in page and "<fieldset disabled>" in page


def test_a_campaign_refused_by_the_service_shows_why_next_to_its_offers(
    live: LiveServer, admin: httpx.Client
) -> None:
    source_id = new_source(admin)
    data = {"name": "C", "traffic_source_id": str(source_id), "offer_rows": "2"}
    data |= {"offer_0": "999", "offer_weight_0": "-1", "cost_model": "cpc"}
    resp = post_form(admin, "/campaigns/new", "/campaigns", data)
    assert resp.status_code == 422
    page = text_of(resp)
    assert "0 weight: Input should be greater than or equal to 0" in page
    assert "A cpc cost needs a value" in page
    assert count(live, Campaign) == 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/setup/offers/abc", 400),
        ("/setup/offers/99999", 404),
        ("/setup/networks/0", 400),
        ("/campaigns/99999999999999", 400),
        ("/wizard?network=abc", 400),
        ("/wizard?type=weird", 400),
        ("/wizard?template=nope&network=5&target=x:y&click=%00", 200),
    ],
)
def test_bad_input_is_a_page_with_its_status_never_a_500(
    admin: httpx.Client, path: str, status: int
) -> None:
    resp = admin.get(path)
    assert resp.status_code == status, resp.text
    assert "<html" in resp.text and "Traceback" not in resp.text


def test_the_status_of_an_unknown_test_click_says_so(admin: httpx.Client) -> None:
    resp = admin.get("/wizard/status/not-a-click")
    assert resp.status_code == 200
    assert "no test conversion has the click ID" in text_of(resp)


def wizard_setup(admin: httpx.Client, secret: str = "s3cr3t") -> tuple[str, int]:
    network_id = new_network(admin, secret=secret)
    offer = new_offer(admin, network_id, "https://o.test/?externalid={clickid}")
    offer_id = int(offer.headers["location"].split("/")[-1].split("?")[0])
    campaign_id = new_campaign(admin, new_source(admin), offer_id)
    return f"template=binom&network={network_id}&target={campaign_id}:{offer_id}", network_id


def test_the_wizard_checks_the_offer_url(admin: httpx.Client) -> None:
    state, _ = wizard_setup(admin)
    page = text_of(admin.get(f"/wizard?{state}"))
    assert "Your URL is correct. Go ahead and make a test conversion." in page
    bad = admin.get(f"/wizard?{state}&" + urlencode({"url": "https://o.test/?externalid=${SUBID}"}))
    assert "${SUBID} is a ${X} placeholder (PropellerAds style)" in text_of(bad)
    assert "Save this URL" not in bad.text


def test_the_wizard_test_conversion_goes_pending_then_valid_then_stays(
    live: LiveServer, admin: httpx.Client, viewer: httpx.Client, http: httpx.Client
) -> None:
    state, network_id = wizard_setup(admin)
    fields = {k: v[0] for k, v in parse_qs(state).items()}
    assert (
        post_form(viewer, f"/wizard?{state}", "/wizard/test-conversion", fields).status_code == 403
    )
    assert count(live, Click) == 0
    resp = post_form(admin, f"/wizard?{state}", "/wizard/test-conversion", fields)
    assert resp.status_code == 303
    clickid = parse_qs(urlsplit(resp.headers["location"]).query)["click"][0]
    page = text_of(admin.get(resp.headers["location"]))
    assert f"https://o.test/?externalid={clickid}" in page
    assert 'data-status="PENDING"' in page
    with live.runtime.db.session() as session:
        network = session.get(Network, network_id)
        assert network is not None
    wrong = http.get(f"/postback/{network.key}", params={"cnv_id": clickid, "token": "no"})
    assert wrong.status_code == 403
    panel = admin.get(f"/wizard/status/{clickid}").text
    assert 'data-status="INVALID"' in panel and "bad_token" in panel
    ok = http.get(f"/postback/{network.key}", params={"cnv_id": clickid, "token": "s3cr3t"})
    assert ok.status_code == 200, ok.text
    assert 'data-status="VALID"' in admin.get(f"/wizard/status/{clickid}").text
    assert 'data-status="VALID"' in viewer.get(resp.headers["location"]).text


def test_the_wizard_creates_a_network_from_the_template(
    live: LiveServer, admin: httpx.Client
) -> None:
    fields = {"template": "everflow", "type": "simple", "name": ""}
    resp = post_form(admin, "/wizard?template=everflow", "/wizard/networks", fields)
    assert resp.status_code == 422
    assert count(live, Network) == 0
    resp = post_form(admin, "/wizard?template=everflow", "/wizard/networks",
                     {**fields, "name": "EF"})  # fmt: skip
    assert resp.status_code == 303
    page = text_of(admin.get(resp.headers["location"]))
    with live.runtime.db.session() as session:
        network = session.scalars(select(Network)).one()
    # The simple type: the click ID alone, in Everflow's macro, and the generated token.
    assert network.secret
    assert f"{live.url}/postback/{network.key}?clickid={{sub1}}&token={network.secret}<" in page


def test_a_new_network_gets_a_secret_unless_the_box_says_none_and_then_a_warning(
    live: LiveServer, admin: httpx.Client
) -> None:
    secured = new_network(admin)
    open_one = new_network(admin, no_secret="1")
    with live.runtime.db.session() as s:
        secrets = {n.id: n.secret for n in s.scalars(select(Network))}
    token = secrets[secured]
    assert token and len(token) == 32 and secrets[open_one] is None
    page = text_of(admin.get(f"/setup/networks/{secured}"))
    assert f"&token={token}" in page and 'id="network-warning"' not in page
    warned = text_of(admin.get(f"/setup/networks/{open_one}"))
    assert 'id="network-warning"' in warned and "no secret token" in warned
    assert "token=" not in warned.split('id="network-postback-url"')[1].split("</section>")[0]

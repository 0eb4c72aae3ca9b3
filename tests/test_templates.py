"""The preset registry: every shipped file loads and validates; broken files fail by name."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from postback.templates import generators, registry
from postback.templates.registry import TemplateError
from tests.test_cli import run_cli

REQUIRED = {
    "adsterra": "traffic_source",
    "propellerads": "traffic_source",
    "exoclick": "traffic_source",
    "clickadilla": "traffic_source",
    "binom": "tracker",
    "voluum": "tracker",
    "keitaro": "tracker",
    "redtrack": "tracker",
    "bemob": "tracker",
    "clickmeter": "tracker",
    "cake": "network",
    "everflow": "network",
    "tune": "network",
    "affise": "network",
    "knorex": "traffic_source",
    "custom": "custom",
}

GOOD = """
name = "demo"
title = "Demo"
kind = "network"
macro_syntax = "#x#"
docs = ["https://example.test/docs"]

[network]
offer_param = "s1"
postback = { clickid = "#s1#", payout = "#price#" }
"""


def test_every_required_preset_ships_with_its_kind_and_a_cited_source() -> None:
    found = registry.all_templates()
    assert {name: found[name].kind for name in REQUIRED} == REQUIRED
    for template in found.values():
        assert template.docs, template.name
    assert [v.name for v in found["adsterra"].source.postbacks] == [  # type: ignore[union-attr]
        "simple",
        "with_payout",
        "with_currency",
    ]


def test_every_preset_file_cites_its_pages_in_a_comment() -> None:
    folder = Path(registry.__file__).parent
    for path in folder.glob("*.toml"):
        comments = [line for line in path.read_text().splitlines() if line.startswith("#")]
        template = registry.load_file(path)
        for doc in template.docs:
            assert any(doc in line for line in comments) or doc.startswith("docs/"), path.name


def write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    template = registry.load_file(write(tmp_path, GOOD))
    assert template.network is not None
    assert template.network.canonical("payout") == "payout"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"#s1#"', '"{s1}"'), "not in this preset's syntax"),
        (("clickid = ", "sub = "), "must carry the click ID"),
        (('kind = "network"', 'kind = "robot"'), "kind"),
        (('docs = ["https://example.test/docs"]', "docs = []"), "docs"),
        (("[network]", '[network]\nstatus_map = { ok = "fine" }'), "not one of"),
        (("[network]", '[network]\naliases = { s = "nothing" }'), "not a receiver field"),
        (("[network]", "[network]\nsurprise = 1"), "surprise"),
        (('name = "demo"', 'name = "other"'), "must match the file name"),
        (("postback = {", "postback = ["), "demo.toml"),
    ],
)
def test_a_broken_file_is_refused_with_its_name(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(TemplateError, match=r"demo\.toml") as info:
        registry.load_file(path)
    assert message in str(info.value)


def test_a_postback_variant_may_use_only_our_macros_tokens_and_its_settings(
    tmp_path: Path,
) -> None:
    source = """
name = "demo"
title = "Demo"
kind = "traffic_source"
macro_syntax = "${X}"
docs = ["https://example.test/docs"]

[source]
click_param = "subid"
click_macro = "${SUBID}"
tokens = { zone = "${ZONE}" }

[[source.postbacks]]
name = "default"
title = "Default"
url = "https://pb.test/?id={external_id}&z={zone}&a={account}&p={prize}"
settings = ["account"]
"""
    with pytest.raises(TemplateError, match=r"\{prize\} is not one of our macros"):
        registry.load_file(write(tmp_path, source))
    assert registry.load_file(write(tmp_path, source.replace("&p={prize}", "")))


def test_generators_write_each_system_in_its_own_syntax() -> None:
    adsterra, cake = registry.get("adsterra"), registry.get("cake")
    assert adsterra is not None and cake is not None
    assert generators.tracking_link("http://t.test/", "K1", adsterra) == (
        "http://t.test/c/K1?subid=##SUB_ID_SHORT##&placement=##PLACEMENT_ID##"
    )
    assert generators.network_postback_url("http://t.test", "N1", cake, "s e") == (
        "http://t.test/postback/N1?clickid=#s2#&payout=#price#&txid=#leadid#&token=s%20e"
    )
    url = generators.source_postback_url(adsterra, "with_currency", {"account": "bob"})
    assert url == (
        "http://www.pbterra.com/code/{currency}/bob/at?subid_short={external_id}&atpay={payout}"
    )


@pytest.mark.parametrize(
    ("variant", "settings", "field"),
    [
        ("nope", {"account": "bob"}, "postback_variant"),
        ("simple", {}, "postback_settings.account"),
        ("simple", {"account": "a/b"}, "postback_settings.account"),
        ("simple", {"account": "bob", "x": "1"}, "postback_settings"),
    ],
)
def test_an_outbound_postback_needs_a_known_variant_and_its_settings(
    variant: str, settings: dict[str, str], field: str
) -> None:
    adsterra = registry.get("adsterra")
    assert adsterra is not None
    with pytest.raises(generators.GeneratorError) as info:
        generators.source_postback_url(adsterra, variant, settings)
    assert info.value.field == field


def test_templates_api_lists_and_shows_presets(api: httpx.Client) -> None:
    items = api.get("/api/v1/templates").json()["items"]
    assert set(REQUIRED) <= {t["name"] for t in items}
    keitaro = api.get("/api/v1/templates/keitaro").json()
    assert keitaro["network"]["aliases"]["tid"] == "txid"
    missing = api.get("/api/v1/templates/nosuch")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_templates_command_lists_and_shows_presets(tmp_path: Path) -> None:
    listed = run_cli("templates", "--format", "csv", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0] == "name,title,kind,macros,sends"
    assert "adsterra,Adsterra,traffic_source,##X##,clicks" in listed.stdout
    shown = run_cli("templates", "propellerads", cwd=tmp_path)
    assert "subid=${SUBID}" in shown.stdout
    assert "ad.propellerads.com/conversion.php" in shown.stdout
    unknown = run_cli("templates", "nosuch", cwd=tmp_path)
    assert unknown.returncode == 1 and unknown.stderr.startswith("error: no template 'nosuch'")

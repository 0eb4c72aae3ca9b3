"""From a preset to the exact URLs a user pastes: tracking link, inbound and outbound postbacks.

Their macros are written into the URLs as they are (`##SUB_ID_SHORT##`, `${SUBID}`): the other
system replaces them, so they must reach it unencoded.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from urllib.parse import quote

from postback.templates import registry
from postback.templates.schemas import Template

# Values a user gives for a variant's settings: account names, numeric IDs, hosts.
_SETTING = re.compile(r"^[A-Za-z0-9_.@:-]{1,100}$")
_MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")


class GeneratorError(ValueError):
    """The request cannot make a URL (unknown variant, missing setting); the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def template_or_custom(name: str | None) -> Template:
    return registry.get(name or registry.CUSTOM) or registry.all_templates()[registry.CUSTOM]


def tracking_link(
    public_url: str,
    campaign_key: str,
    template: Template,
    *,
    click_param: str | None = None,
    cost_param: str | None = None,
) -> str:
    """Our click URL with the source's macros in the parameters the source fills."""
    base = f"{public_url.rstrip('/')}/c/{campaign_key}"
    side = template.source
    if side is None:
        return base
    pairs: list[tuple[str, str]] = []
    if side.click_macro:
        pairs.append((click_param or side.click_param, side.click_macro))
    pairs += list(side.tokens.items())
    if side.cost_macro:
        pairs.append((cost_param or side.cost_param or "cost", side.cost_macro))
    return base + ("?" + _query(pairs) if pairs else "")


def network_postback_url(
    public_url: str,
    network_key: str,
    template: Template,
    secret: str | None,
    *,
    fields: Collection[str] | None = None,
) -> str:
    """The URL the network fires at us, its macros as the values of our receiver's parameters.

    `fields` keeps only the parameters that land in those receiver fields (a "simple" postback
    is the click ID alone); None keeps them all."""
    base = f"{public_url.rstrip('/')}/postback/{network_key}"
    side = template.network or template_or_custom(None).network
    assert side is not None
    pairs = [
        (param, macro)
        for param, macro in side.postback.items()
        if fields is None or side.canonical(param) in fields
    ]
    if secret:
        pairs.append(("token", quote(secret, safe="")))
    return base + "?" + _query(pairs)


def source_postback_url(
    template: Template, variant: str | None, settings: Mapping[str, str]
) -> str:
    """A traffic source's outbound postback URL: its settings filled, our macros left in."""
    chosen = template.variant(variant)
    if chosen is None:
        names = [v.name for v in template.source.postbacks] if template.source else []
        known = f": one of {', '.join(names)}" if names else ""
        raise GeneratorError(
            "postback_variant", f"{template.title} has no postback variant {variant!r}{known}"
        )
    for name in chosen.settings:
        value = settings.get(name)
        if not value or not _SETTING.match(value):
            raise GeneratorError(
                f"postback_settings.{name}",
                f"{chosen.title} needs {name}: letters, digits and _ . @ : - only",
            )
    extra = sorted(set(settings) - set(chosen.settings))
    if extra:
        raise GeneratorError("postback_settings", f"{chosen.title} takes no {', '.join(extra)}")

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return settings[name] if name in chosen.settings else match.group(0)

    return _MACRO.sub(fill, chosen.url)


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{name}={value}" for name, value in pairs)

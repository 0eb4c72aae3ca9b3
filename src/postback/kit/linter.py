"""The macro linter: what is wrong with a URL template before anyone clicks or converts.

Unreplaced and misspelt macros are where conversions go missing (the click ID never reaches the
network, the postback carries a literal `${SUBID}`), so every URL a user saves passes through
here. Errors block the save; warnings are returned with the saved object.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel

from postback.kit.errors import Unprocessable
from postback.kit.macros import MACRO, authority_has_macro

Level = Literal["error", "warning"]
Kind = Literal["offer", "lander", "postback", "fallback"]

# The click's macro table (clicks/service.py `ClickMacros`) and the outbound one
# (conversions/recording.py `macro_values`); tokens come on top of both.
OFFER_MACROS = frozenset(
    {"clickid", "external_id", "campaign_id", "offer_id", "country", "os", "device", "browser"}
    | {"timestamp"}
)
POSTBACK_MACROS = frozenset(
    {"clickid", "external_id", "campaign_id", "offer_id", "conversion_id", "event", "status"}
    | {"txid", "payout", "currency"}
)
GENERIC_TOKENS = frozenset(f"sub{i}" for i in range(1, 11))
# Other systems' names for our macros: the likeliest slips when pasting from their docs.
LIKELY_MEANT = {
    "click_id": "clickid",
    "clickId": "clickid",
    "cid": "clickid",
    "subid": "clickid",
    "externalid": "external_id",
    "externalId": "external_id",
    "sum": "payout",
    "revenue": "payout",
    "amount": "payout",
    "transaction_id": "txid",
}
# Another system's placeholder syntax anywhere in the URL...
_FOREIGN = (
    (re.compile(r"\$\{[^{}\s]*\}"), "${X}", "PropellerAds"),
    (re.compile(r"\{\{[^{}\s]*\}\}"), "{{x}}", "template-engine"),
    (re.compile(r"##[^#\s]+##"), "##X##", "Adsterra"),
    (re.compile(r"%[A-Za-z_][A-Za-z0-9_]{2,}%"), "%X%", "percent"),
    # ...or, for styles that also occur in plain URLs, only as a whole value or path segment.
    (re.compile(r"(?<=[=/])#[A-Za-z_]\w*#(?=$|[&/])"), "#x#", "CAKE"),
    (re.compile(r"(?<=[=/])\[[A-Za-z_]\w*\](?=$|[&/#])"), "[X]", "ClickAdilla/ClickMeter"),
)
# Words that documentation uses as "replace me" and users paste unchanged.
_DOC_PLACEHOLDERS = frozenset(
    {"REPLACE", "OPTIONAL", "CLICK_ID", "CLICKID", "PAYOUT", "NAMEOFADVERTISER", "USERNAME"}
    | {"TRANSACTION_ID", "YOUR_CLICK_ID", "XXX", "XXXX"}
)


class UrlWarning(BaseModel):
    """A warning returned with a saved object: the save went through, but look at this."""

    field: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Finding:
    level: Level
    code: str
    message: str


def lint_url(
    url: str,
    kind: Kind,
    *,
    tokens: Collection[str] = (),
    closed: bool = False,
    click_param: str | None = None,
) -> list[Finding]:
    """Findings for one URL template, errors first.

    `tokens` are extra macro names the context provides; `closed` makes an unknown macro an
    error (the traffic source's template lists every token it passes); `click_param` is the
    parameter the offer's network reads our click ID from.
    """
    findings = _shape(url)
    if not findings and kind in ("offer", "lander", "fallback"):
        findings = _macro_in_host(url)
    if findings:
        return findings
    masked = url
    for pattern, style, who in _FOREIGN:
        for match in pattern.finditer(url):
            findings.append(_foreign(match.group(0), style, who, kind))
        masked = pattern.sub("", masked)
    names = MACRO.findall(masked)
    clickside = kind in ("offer", "lander")
    known = (OFFER_MACROS if clickside else POSTBACK_MACROS) | GENERIC_TOKENS | set(tokens)
    findings += [f for name in dict.fromkeys(names) if (f := _macro(name, known, kind, closed))]
    if "{" in MACRO.sub("", masked) or "}" in MACRO.sub("", masked):
        findings.append(
            Finding("error", "malformed_macro", "a { or } that is not part of a {name} macro")
        )
    findings += _query(url)
    findings += _by_kind(url, kind, set(names), click_param)
    return sorted(findings, key=lambda f: f.level != "error")


def _shape(url: str) -> list[Finding]:
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        return [Finding("error", "bad_characters", "spaces and control characters break a URL")]
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        return [Finding("error", "bad_scheme", f"must start with http:// or https://, not {shown}")]
    if not parts.hostname:
        return [Finding("error", "no_host", "has no host name")]
    return []


def _macro_in_host(url: str) -> list[Finding]:
    """A visitor's value in the scheme, user, host or port would choose where the tracker
    sends them (`https://{zone}/` with zone=evil.example): an open redirect."""
    parts = urlsplit(url)
    if authority_has_macro(url) or "{" in parts.netloc or "}" in parts.netloc:
        return [
            Finding(
                "error",
                "macro_in_host",
                "a macro in the scheme, user, host or port would let a visitor choose the "
                "site they are sent to: put macros in the path or query only",
            )
        ]
    return []


def _foreign(text: str, style: str, who: str, kind: Kind) -> Finding:
    ours = "{clickid}" if kind in ("offer", "lander") else "{external_id}"
    return Finding(
        "error",
        "foreign_macro",
        f"{text} is a {style} placeholder ({who} style), which we never fill: "
        f"write our macros as {{name}}, e.g. {ours}",
    )


def _macro(name: str, known: frozenset[str], kind: Kind, closed: bool) -> Finding | None:
    if name in known:
        return None
    if name.lower() in known:
        return Finding("warning", "macro_case", f"write {{{name.lower()}}} rather than {{{name}}}")
    meant = LIKELY_MEANT.get(name) or next(
        iter(difflib.get_close_matches(name.lower(), sorted(known), n=1, cutoff=0.75)), None
    )
    hint = f": did you mean {{{meant}}}?" if meant else ""
    if closed or meant:
        return Finding("error", "unknown_macro", f"{{{name}}} is not one of our macros{hint}")
    if kind == "fallback":
        return None
    return Finding(
        "warning",
        "unknown_macro",
        f"{{{name}}} is not one of our macros: it is filled only if the traffic source passes "
        f"a token named {name}, else left empty",
    )


def _query(url: str) -> list[Finding]:
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    counts = Counter(name for name, _ in pairs if not name.endswith("[]"))
    findings = [
        Finding("error", "duplicate_param", f"parameter {name} appears {n} times")
        for name, n in counts.items()
        if n > 1
    ]
    segments = [value for _, value in pairs] + urlsplit(url).path.split("/")
    findings += [
        Finding(
            "warning",
            "doc_placeholder",
            f"{value} looks like a placeholder copied from documentation: replace it",
        )
        for value in dict.fromkeys(segments)
        if value in _DOC_PLACEHOLDERS
    ]
    return findings


def _by_kind(url: str, kind: Kind, names: set[str], click_param: str | None) -> list[Finding]:
    if kind == "offer":
        if "clickid" not in names:
            return [
                Finding(
                    "error",
                    "missing_clickid",
                    "has no {clickid}: the network cannot send the conversion back without it",
                )
            ]
        values = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        if click_param and "{clickid}" not in values.get(click_param, ""):
            return [
                Finding(
                    "warning",
                    "click_param",
                    f"this network returns the value of its {click_param} parameter: "
                    f"put {{clickid}} in {click_param}",
                )
            ]
    if kind == "lander" and "clickid" not in names:
        return [
            Finding(
                "warning",
                "missing_clickid",
                "has no {clickid}: the lander's link to the offer must then rely on the "
                "tracker's cookie (/lp) instead of /lp?clickid=...",
            )
        ]
    if kind == "postback" and not names & {"external_id", "clickid"}:
        return [
            Finding(
                "warning",
                "missing_external_id",
                "has no {external_id}: the traffic source cannot match the conversion to its click",
            )
        ]
    if kind == "fallback" and names:
        return [Finding("warning", "not_filled", "macros in the fallback URL are sent as they are")]
    return []


def enforce(field: str, findings: list[Finding]) -> list[UrlWarning]:
    """Refuse the save on any error (422 with each one); return the warnings for the response."""
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise Unprocessable(
            "; ".join(f"{field}: {f.message}" for f in errors),
            extra=[{"field": field, "code": f.code, "message": f.message} for f in errors],
        )
    return warnings_of(field, findings)


def warnings_of(field: str, findings: list[Finding]) -> list[UrlWarning]:
    return [
        UrlWarning(field=field, code=f.code, message=f.message)
        for f in findings
        if f.level == "warning"
    ]

"""Secrets kept out of the postback log and the application log.

A postback may carry a network's token, under the default names, under the network's own alias
for it, percent- or plus-encoded, in a JSON body (even one we refuse), or in a path segment.
What we keep of a request is redacted twice, whatever step refused it:

- by name: every value whose parameter name (decoded, any case) is a name for the token;
- by value: every secret the request could carry, in each spelling a request may use.

A request that is accepted was authenticated by its network, whose secrets and alias names are
known: that is all it is checked for (no extra query on the hot path). A refused one is checked
against every network's secrets and aliases (`SecretBook` of all networks, cached like the
networks themselves), since which network it meant is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import orjson
from sqlalchemy import Connection

from postback.conversions import repository
from postback.conversions.parsing import DEFAULT_ALIASES
from postback.conversions.records import NetworkConfig
from postback.kit.cache import TTLCache

MASK = "***"
# Shorter secrets would mask ordinary words everywhere; the API refuses them anyway.
MIN_SECRET = 4
TOKEN_NAMES = frozenset(n.lower() for n, c in DEFAULT_ALIASES.items() if c == "token")
# A JSON member (possibly in a body too broken to parse) whose name may be a token's.
_JSON_MEMBER = re.compile(r'"((?:[^"\\]|\\.){1,100})"\s*:\s*("(?:[^"\\]|\\.)*"?|[^,}\]\s]*)')


@dataclass(frozen=True, slots=True)
class SecretBook:
    """Parameter names (lower case) that carry a secret, and each secret in every spelling."""

    names: frozenset[str] = TOKEN_NAMES
    forms: tuple[str, ...] = ()

    def redact(self, text: str) -> str:
        if not text:
            return text
        text = _by_name(text, self.names)
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def redact_value(self, name: str, value: Any) -> Any:
        if name.lower() in self.names:
            return MASK
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_value(str(k), v) for k, v in value.items()}
        return value


DEFAULT_BOOK = SecretBook()


def book_of(networks: list[NetworkConfig]) -> SecretBook:
    names = set(TOKEN_NAMES)
    secrets: set[str] = set()
    for network in networks:
        names |= {n.lower() for n, c in network.aliases.items() if c == "token"}
        secrets |= {network.secret or "", network.signing_secret or ""}
    forms = {form for s in secrets if len(s) >= MIN_SECRET for form in _forms(s)}
    # Longest first, so a secret that contains another is masked whole.
    return SecretBook(frozenset(names), tuple(sorted(forms, key=len, reverse=True)))


# Per cached NetworkConfig object (it is not hashable: it holds dicts); the object is kept with
# its book so a recycled id() can never match.
_BY_NETWORK: dict[int, tuple[NetworkConfig, SecretBook]] = {}
_BOOK_KEY = ("secret-book",)


def book_of_network(network: NetworkConfig | None) -> SecretBook:
    if network is None:
        return DEFAULT_BOOK
    found = _BY_NETWORK.get(id(network))
    if found is not None and found[0] is network:
        return found[1]
    if len(_BY_NETWORK) >= 1024:
        _BY_NETWORK.clear()
    book = book_of([network])
    _BY_NETWORK[id(network)] = (network, book)
    return book


def all_networks_book(conn: Connection, cache: TTLCache[Any, Any] | None) -> SecretBook:
    """Every network's secrets, through the process's network cache (cleared, like the
    networks, when one is saved)."""
    if cache is None:
        return load_book(conn)
    book = cache.get_or_load(_BOOK_KEY, lambda _k: load_book(conn))
    return book if isinstance(book, SecretBook) else DEFAULT_BOOK


def cached_book(cache: TTLCache[Any, Any], network_key: str | None) -> SecretBook:
    """The best book at hand without a query (for the application log, when the database
    may be what failed): every network's if cached, else the path's network's."""
    found, book = cache.get(_BOOK_KEY)
    if found and isinstance(book, SecretBook):
        return book
    found, network = cache.get(("key", network_key)) if network_key else (False, None)
    return book_of_network(network if isinstance(network, NetworkConfig) else None)


def load_book(conn: Connection) -> SecretBook:
    """Every network's secrets and token aliases (archived ones too: an old secret is still
    a secret)."""
    return book_of(repository.load_all_networks(conn))


def _forms(secret: str) -> set[str]:
    """A secret as a request may carry it: as is, percent-encoded, form-encoded, JSON-escaped."""
    json_form = orjson.dumps(secret).decode()[1:-1]
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), json_form}


def _by_name(text: str, names: frozenset[str]) -> str:
    if "=" in text:
        text = "&".join(_pair(part, names) for part in text.split("&"))
    if '"' in text:
        text = _JSON_MEMBER.sub(lambda m: _member(m, names), text)
    return text


def _pair(part: str, names: frozenset[str]) -> str:
    name, eq, value = part.partition("=")
    if eq and value and _decoded(name) in names:
        return f"{name}={MASK}"
    return part


def _member(match: re.Match[str], names: frozenset[str]) -> str:
    name = match.group(1)
    if _decoded_json(name) not in names:
        return match.group(0)
    return f'"{name}":"{MASK}"'


def _decoded(name: str) -> str:
    return unquote_plus(name.lstrip("?;"), errors="replace").strip().lower()


def _decoded_json(name: str) -> str:
    try:
        decoded = orjson.loads(f'"{name}"')
    except orjson.JSONDecodeError:
        decoded = name
    return str(decoded).strip().lower()

"""Secrets masked out of outbound URLs, and out of anything that may echo one, before it is
shown or logged.

A traffic source's postback URL may carry the source's own credential: `?key=...`, a token in
a path segment, a password in `user:pass@host`. The URL stored to send a delivery keeps it
(it must be sent); every copy that is shown or logged goes through a `Masker`:

- by name: the value of every parameter whose name looks like a credential (`key`, `token`,
  `secret`, `api_key`, `auth`, `password`, `sig`, `signature`, ..., as a word of the name:
  `account_token`, `apiKey`, `x-api-key`), in a query, a form, an error message or JSON;
- userinfo: the password of `scheme://user:password@host`;
- by value: each secret the source is configured with, in every spelling a URL or a JSON
  answer may use: its signing secret, and the literal parts of its URL template that are
  credentials (the value of a credential-named parameter, or any literal path segment or value
  that looks like a key: 12 or more characters mixing letters and digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

import orjson

MASK = "***"
# Shorter values would mask ordinary words wherever they appear.
MIN_SECRET = 4
LOOKS_LIKE_KEY = 12
SECRET_WORDS = frozenset(
    {
        "key", "apikey", "token", "secret", "auth", "authorization", "password", "passwd",
        "pass", "pwd", "sig", "signature", "credential", "credentials", "hmac",
    }
)  # fmt: skip
_MACRO = re.compile(r"\{[A-Za-z0-9_]+\}")
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# name=value anywhere in a text (a URL, a form, an error message, an echoed request).
_PAIR = re.compile(r"(?P<name>[A-Za-z0-9_.%\-\[\]]{1,100})=(?P<value>[^&#;\s\"'<>]*)")
# A JSON member whose name may be a credential's, in text that may not parse.
_JSON_MEMBER = re.compile(
    r'"(?P<name>(?:[^"\\]|\\.){1,100})"\s*:\s*("(?:[^"\\]|\\.)*"?|[^,}\]\s]*)'
)
_USERINFO = re.compile(r"(?P<head>://[^/\s:@]*:)[^/\s@]+@")


@lru_cache(maxsize=1024)
def secret_name(name: str) -> bool:
    """Whether a parameter name (raw or percent-encoded, any case) names a credential."""
    decoded = unquote_plus(name, errors="replace").strip()
    if decoded.lower() in SECRET_WORDS:
        return True
    return any(word.lower() in SECRET_WORDS for word in _WORD.findall(decoded))


def spellings(secret: str) -> set[str]:
    """A secret as a URL, a form or a JSON text may carry it."""
    json_form = orjson.dumps(secret).decode()[1:-1]
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), json_form}


@dataclass(frozen=True, slots=True)
class Masker:
    """Masks credentials by name, in userinfo, and each known secret in every spelling."""

    forms: tuple[str, ...] = ()

    def text(self, text: str | None) -> str | None:
        if not text:
            return text
        if "=" in text:
            text = _PAIR.sub(_masked_pair, text)
        if '"' in text:
            text = _JSON_MEMBER.sub(_masked_member, text)
        if "@" in text:
            text = _USERINFO.sub(lambda m: f"{m.group('head')}{MASK}@", text)
        for form in self.forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


PLAIN = Masker()


def masker(secrets: set[str]) -> Masker:
    forms = {f for s in secrets if len(s) >= MIN_SECRET for f in spellings(s)}
    # Longest first, so a secret that contains another is masked whole.
    return Masker(tuple(sorted(forms, key=len, reverse=True)))


@lru_cache(maxsize=1024)
def source_masker(template: str | None, signing_secret: str | None) -> Masker:
    """The masker of one traffic source: its template's credentials and its signing secret."""
    secrets = template_secrets(template or "")
    if signing_secret:
        secrets |= {signing_secret, signing_secret.removeprefix("whsec_")}
    return masker(secrets) if secrets else PLAIN


def template_secrets(template: str) -> set[str]:
    """The literal credentials a URL template carries (macros are per-conversion values)."""
    if not template:
        return set()
    parts = urlsplit(template)
    found: set[str] = set()
    if parts.password and not _MACRO.search(parts.password):
        found.add(unquote(parts.password))
    for segment in parts.path.split("/"):
        found |= {p for p in _literals(segment) if _looks_like_key(p)}
    for pair in parts.query.split("&"):
        name, _eq, value = pair.partition("=")
        named = secret_name(name)
        found |= {p for p in _literals(value) if named or _looks_like_key(p)}
    return {s for s in found if len(s) >= MIN_SECRET}


def _literals(text: str) -> set[str]:
    pieces = (unquote_plus(p, errors="replace") for p in _MACRO.split(text))
    return {p for p in pieces if p}


def _looks_like_key(text: str) -> bool:
    return (
        len(text) >= LOOKS_LIKE_KEY
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
    )


def _masked_pair(match: re.Match[str]) -> str:
    if match.group("value") and secret_name(match.group("name")):
        return f"{match.group('name')}={MASK}"
    return match.group(0)


def _masked_member(match: re.Match[str]) -> str:
    name = match.group("name")
    try:
        decoded = str(orjson.loads(f'"{name}"'))
    except orjson.JSONDecodeError:
        decoded = name
    return f'"{name}":"{MASK}"' if secret_name(decoded) else match.group(0)

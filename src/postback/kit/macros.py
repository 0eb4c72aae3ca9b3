"""URL templates filled from an explicit macro table, every value URL-encoded.

`{name}` is our macro syntax. A macro the table does not know is filled with an empty string
at click time: the visitor must still be redirected. Saving a template with a macro that can
never have a value is refused earlier, when the template is validated.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

MACRO = re.compile(r"\{([A-Za-z0-9_]+)\}")
# Characters that may stay as they are in a URL; anything else (non-ASCII, spaces) is escaped.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
# Values made only of these need no escaping: most click IDs, zones and sub IDs.
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*\Z")


class MacroValues(Protocol):
    """What a template is filled from: a dict, or an object that works values out on demand."""

    def get(self, name: str, /) -> object | None: ...


class Template:
    """A URL template split once into literal text and macro names, so that filling it on
    every click is a join, not a regex substitution plus a re-quoting of the whole URL."""

    __slots__ = ("names", "parts", "slots")

    def __init__(self, template: str, lock_authority: bool = False) -> None:
        pieces = MACRO.split(template)
        # split() alternates literal, name, literal, ...: literals are escaped here, once.
        self.parts = [quote(p, safe=_URL_SAFE) if i % 2 == 0 else p for i, p in enumerate(pieces)]
        self.names = pieces[1::2]
        # Each macro's name and, when it differs, the lower-case name to fall back on.
        self.slots = [(name, name.lower() if name.lower() != name else None) for name in self.names]
        if lock_authority:
            # A macro in the scheme, user, host or port is filled from the name "", which
            # no value has: always empty, so that no value can choose the host.
            for n in authority_macros(pieces):
                self.slots[n] = ("", None)

    def fill(self, values: MacroValues) -> str:
        out = self.parts.copy()
        i = 1
        for name, lower in self.slots:
            value = values.get(name)
            if value is None and lower is not None:
                value = values.get(lower)
            out[i] = "" if value is None else _escape(value if type(value) is str else str(value))
            i += 2
        return "".join(out)


def _escape(value: str) -> str:
    if value.isascii() and value.isalnum():  # two C calls, cheaper than the regex
        return value
    return value if _PLAIN.match(value) else quote(value, safe="")


def authority_macros(pieces: list[str]) -> frozenset[int]:
    """Which macros (by position) of a split template come before the end of its authority
    (scheme://user@host:port): there, a filled value could send the visitor to another
    host, so a click URL (an offer's, a lander's) never fills them."""
    locked: set[int] = set()
    text = ""
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            text += piece
            continue
        scheme_end = text.find("://")
        if scheme_end < 0 or not any(c in text[scheme_end + 3 :] for c in "/?#"):
            locked.add(i // 2)
        text += "x"
    return frozenset(locked)


def authority_has_macro(template: str) -> bool:
    return bool(authority_macros(MACRO.split(template)))


@lru_cache(maxsize=4096)
def compile_template(template: str, lock_authority: bool = False) -> Template:
    return Template(template, lock_authority)


def fill(template: str, values: MacroValues) -> str:
    return compile_template(template).fill(values)


def macros_in(template: str) -> set[str]:
    return set(MACRO.findall(template))

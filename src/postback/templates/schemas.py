"""The shape of a preset file, checked when the registry loads (a bad file fails loudly, once).

A preset describes one system from two sides, either or both:
- `source`: the system sends us clicks. Which parameters of our tracking link carry its click ID
  and tokens (in its own macro syntax), and the outbound postback URL variants it accepts (in
  our `{name}` syntax, with `settings` the user fills in once, such as an account name).
- `network`: the system sends us postbacks. Which parameter of its offer link carries our click
  ID, the postback URL to paste into it (our receiver's parameters, its macros as values), and
  how to read what it sends (aliases, status words, duplicate rule).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from postback.conversions.parsing import CANONICAL, DEFAULT_ALIASES, STATUSES
from postback.kit import macros

MacroSyntax = Literal["{x}", "${X}", "##X##", "#x#", "[X]"]
Kind = Literal["traffic_source", "tracker", "network", "custom"]
DuplicateMode = Literal["ignore", "new_per_txid", "update", "accumulate"]

# One whole macro in each syntax. `##X##` allows Adsterra's `##SUB_ID_SHORT(action)##` form.
SYNTAX_PATTERNS: dict[str, re.Pattern[str]] = {
    "{x}": re.compile(r"^\{[A-Za-z0-9_.]+\}$"),
    "${X}": re.compile(r"^\$\{[A-Za-z0-9_]+\}$"),
    "##X##": re.compile(r"^##[A-Za-z0-9_()]+##$"),
    "#x#": re.compile(r"^#[A-Za-z0-9_]+#$"),
    "[X]": re.compile(r"^\[[A-Za-z0-9_]+\]$"),
}
# The outbound postback's macro table (conversions/recording.py `macro_values`), plus the
# click's tokens, which a preset declares in `source.tokens`.
OUTBOUND_MACROS = frozenset(
    {
        "clickid",
        "external_id",
        "campaign_id",
        "offer_id",
        "conversion_id",
        "event",
        "status",
        "txid",
        "payout",
        "amount",
        "currency",
    }
)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,49}$")]
Param = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\[\]-]{1,50}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PostbackVariant(Strict):
    name: Slug
    title: Text
    url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    settings: list[Slug] = Field(default_factory=list)
    note: str | None = None


class SourceSide(Strict):
    click_param: Param
    # Empty when the system appends its click ID by itself (Knorex adds `kcid`).
    click_macro: str = ""
    tokens: dict[Param, str] = Field(default_factory=dict)
    cost_param: Param | None = None
    cost_macro: str | None = None
    postbacks: list[PostbackVariant] = Field(default_factory=list)
    note: str | None = None

    def macros(self) -> list[str]:
        found = [self.click_macro, self.cost_macro, *self.tokens.values()]
        return [m for m in found if m]

    @model_validator(mode="after")
    def _variants_use_known_macros(self) -> SourceSide:
        # The click's tokens are in the outbound macro table too, under our parameter names.
        known = OUTBOUND_MACROS | set(self.tokens)
        for variant in self.postbacks:
            for name in sorted(macros.macros_in(variant.url)):
                if name not in known and name not in variant.settings:
                    raise ValueError(
                        f"{variant.name}: {{{name}}} is not one of our macros, a token or a setting"
                    )
        return self


class NetworkSide(Strict):
    offer_param: Param
    postback: dict[Param, str]
    aliases: dict[Param, str] = Field(default_factory=dict)
    status_map: dict[str, str] = Field(default_factory=dict)
    duplicate_mode: DuplicateMode = "ignore"
    note: str | None = None

    def canonical(self, param: str) -> str | None:
        """The receiver field a parameter of this system's postback lands in."""
        if param in CANONICAL:
            return param
        return self.aliases.get(param) or DEFAULT_ALIASES.get(param)

    @model_validator(mode="after")
    def _readable(self) -> NetworkSide:
        for name, target in self.aliases.items():
            if target not in CANONICAL:
                raise ValueError(f"alias {name} -> {target}: not a receiver field")
        for word, status in self.status_map.items():
            if status not in STATUSES:
                raise ValueError(f"status {word} -> {status}: not one of {', '.join(STATUSES)}")
        if "clickid" not in {self.canonical(p) for p in self.postback}:
            raise ValueError("the postback must carry the click ID")
        return self


class Template(Strict):
    name: Slug
    title: Text
    kind: Kind
    macro_syntax: MacroSyntax
    # Public pages the formats come from (a repository doc for the custom preset).
    docs: list[Annotated[str, StringConstraints(pattern=r"^(https?://|docs/)")]] = Field(
        min_length=1
    )
    # Event names match exactly (Knorex: "the Name matches exactly what is passed"); a system
    # whose docs say it ignores their case sets this, and its networks and sources inherit it.
    events_case_insensitive: bool = False
    source: SourceSide | None = None
    network: NetworkSide | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        if self.source is None and self.network is None:
            raise ValueError("a preset needs a [source] or a [network] section")
        pattern = SYNTAX_PATTERNS[self.macro_syntax]
        for macro in self._their_macros():
            if not pattern.match(macro):
                raise ValueError(f"{macro!r} is not in this preset's syntax {self.macro_syntax}")
        return self

    def _their_macros(self) -> list[str]:
        found = self.source.macros() if self.source else []
        if self.network:
            # Postback values may also be fixed values such as "0"; only macro-looking ones count.
            found += [v for v in self.network.postback.values() if not v.isalnum()]
        return found

    def variant(self, name: str | None) -> PostbackVariant | None:
        variants = self.source.postbacks if self.source else []
        if name is None:
            return variants[0] if variants else None
        return next((v for v in variants if v.name == name), None)

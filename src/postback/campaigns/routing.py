"""Campaign routing rules: paths of landers and offers, and the rules that choose a path.

Stored as JSON on the campaign row (one read on the click path):
paths = [{"name", "weight", "landers": [[id, weight]], "offers": [[id, weight]]}]
rules = [{"name", "when": {"country": [...], "device": [...], "os": [...], "browser": [...],
          "tokens": {"name": [...]}, "flags": [...]}, "path": "name"}]
Every id is checked on save; offers and landers are archived, never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from postback.campaigns.schemas import (
    CampaignLanderIn,
    CampaignOfferIn,
    ConditionsIn,
    PathIn,
    RuleIn,
)
from postback.kit.fields import field_error
from postback.landers import repository as landers
from postback.offers import repository as offers

# Matched case-insensitively: stored lower-case, like the click's values are compared.
_FOLDED = ("device", "os", "browser")


def check(
    session: Session,
    status: str,
    paths: Sequence[PathIn],
    rules: Sequence[RuleIn],
    field: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stored form of paths and rules, or a 422 naming the first field at fault."""
    short = field == "offers"
    paths = [p for p in paths if p.offers or p.landers] if short else list(paths)
    _check_names(paths)
    _check_offers(session, paths, short)
    _check_landers(session, paths, short)
    names = {p.name.lower() for p in paths}
    for i, rule in enumerate(rules):
        if rule.path.lower() not in names:
            raise field_error(f"rules.{i}.path", f"there is no path named {rule.path!r}")
    if status == "active":
        _check_routable(paths, {r.path.lower() for r in rules}, short, field)
    return [_stored_path(p) for p in paths], [_stored_rule(r, paths) for r in rules]


def _check_names(paths: Sequence[PathIn]) -> None:
    seen: set[str] = set()
    for i, path in enumerate(paths):
        if path.name.lower() in seen:
            raise field_error(f"paths.{i}.name", f"two paths are named {path.name!r}")
        seen.add(path.name.lower())


def _check_offers(session: Session, paths: Sequence[PathIn], short: bool) -> None:
    found = offers.get_many(session, (o.offer_id for p in paths for o in p.offers))
    for i, path in enumerate(paths):
        prefix = "offers" if short else f"paths.{i}.offers"
        for j, item in enumerate(path.offers):
            offer = found.get(item.offer_id)
            if offer is None:
                raise field_error(f"{prefix}.{j}.offer_id", f"offer {item.offer_id} does not exist")
            if offer.archived:
                raise field_error(f"{prefix}.{j}.offer_id", f"offer {item.offer_id} is archived")


def _check_routable(paths: Sequence[PathIn], ruled: set[str], short: bool, field: str) -> None:
    """An active campaign sends every click somewhere: each path it can take has an offer."""
    for i, path in enumerate(paths):
        reachable = path.weight > 0 or path.name.lower() in ruled
        if reachable and not any(o.weight > 0 for o in path.offers):
            where = "offers" if short else f"paths.{i}.offers"
            where = "status" if field == "status" else where
            raise field_error(where, f"path {path.name!r} needs an offer with a weight above 0")
    if not any(p.weight > 0 for p in paths):
        raise field_error(field, "an active campaign needs an offer with a weight above 0")


def _check_landers(session: Session, paths: Sequence[PathIn], short: bool) -> None:
    found = landers.get_many(session, (x.lander_id for p in paths for x in p.landers))
    for i, path in enumerate(paths):
        prefix = "landers" if short else f"paths.{i}.landers"
        for j, item in enumerate(path.landers):
            lander = found.get(item.lander_id)
            where = f"{prefix}.{j}.lander_id"
            if lander is None:
                raise field_error(where, f"lander {item.lander_id} does not exist")
            if lander.archived:
                raise field_error(where, f"lander {item.lander_id} is archived")
        if path.landers and not any(x.weight > 0 for x in path.landers):
            raise field_error(prefix, f"path {path.name!r} needs a lander with a weight above 0")


def _stored_path(path: PathIn) -> dict[str, Any]:
    return {
        "name": path.name,
        "weight": path.weight,
        "landers": [[x.lander_id, x.weight] for x in path.landers],
        "offers": [[o.offer_id, o.weight] for o in path.offers],
    }


def _stored_rule(rule: RuleIn, paths: Sequence[PathIn]) -> dict[str, Any]:
    path = next(p.name for p in paths if p.name.lower() == rule.path.lower())
    return {"name": rule.name, "when": _stored_conditions(rule.when), "path": path}


def _stored_conditions(when: ConditionsIn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if when.country:
        out["country"] = sorted({v.strip().upper() for v in when.country})
    for name in _FOLDED:
        values = getattr(when, name)
        if values:
            out[name] = sorted({v.strip().lower() for v in values})
    if when.tokens:
        out["tokens"] = {name: sorted(set(values)) for name, values in when.tokens.items()}
    if when.flags:
        out["flags"] = sorted(set(when.flags))
    return out


def as_inputs(stored: Sequence[dict[str, Any]]) -> list[PathIn]:
    return [
        PathIn(
            name=p["name"],
            weight=p["weight"],
            landers=[CampaignLanderIn(lander_id=i, weight=w) for i, w in p["landers"]],
            offers=[CampaignOfferIn(offer_id=i, weight=w) for i, w in p["offers"]],
        )
        for p in stored
    ]


def rules_as_inputs(stored: Sequence[dict[str, Any]]) -> list[RuleIn]:
    return [RuleIn.model_validate(rule) for rule in stored]


def offer_ids(stored: Sequence[dict[str, Any]]) -> list[int]:
    """Every offer of every path, once, in path order."""
    return list(dict.fromkeys(offer_id for p in stored for offer_id, _ in p["offers"]))


def paths_out(stored: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": p["name"],
            "weight": p["weight"],
            "landers": [{"lander_id": i, "weight": w} for i, w in p["landers"]],
            "offers": [{"offer_id": i, "weight": w} for i, w in p["offers"]],
        }
        for p in stored
    ]

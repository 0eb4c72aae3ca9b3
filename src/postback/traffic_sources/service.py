"""Traffic sources: where clicks come from and where their outbound postbacks go."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from postback.fraud import flags
from postback.kit import linter
from postback.kit.errors import NotFound
from postback.kit.fields import field_error
from postback.kit.masking import source_masker
from postback.models import TrafficSource
from postback.templates import generators, registry
from postback.templates.schemas import Template
from postback.traffic_sources import repository
from postback.traffic_sources.schemas import TrafficSourceCreate, TrafficSourceUpdate

_GENERATOR_FIELDS = ("postback_variant", "postback_settings")


def create(session: Session, body: TrafficSourceCreate) -> TrafficSource:
    template = source_template(body.template)
    data = body.model_dump(exclude=set(_GENERATOR_FIELDS))
    given = body.model_fields_set
    if template.source and "external_id_param" not in given:
        data["external_id_param"] = template.source.click_param
    if template.source and template.source.cost_param and "cost_param" not in given:
        data["cost_param"] = template.source.cost_param
    if "events_case_insensitive" not in given:
        data["events_case_insensitive"] = template.events_case_insensitive
    data.update(_generated_postback(template, body.model_dump(include=given)))
    data["postback_skip_flags"] = flags.mask_of(body.postback_skip_flags)
    if data.get("postback_url"):
        linter.enforce("postback_url", lint_postback(data["postback_url"], body.template))
    return repository.add(session, TrafficSource(**data))


def source_template(name: str) -> Template:
    template = registry.get(name)
    if template is None:
        raise field_error("template", f"no template {name!r}: one of {', '.join(registry.names())}")
    if template.source is None:
        raise field_error("template", f"{template.title} sends postbacks, not clicks")
    return template


def lint_postback(url: str, template_name: str) -> list[linter.Finding]:
    """A preset lists every token its source passes, so any other macro is surely a slip."""
    template = registry.get(template_name)
    side = template.source if template else None
    closed = side is not None and template_name != registry.CUSTOM
    return linter.lint_url(url, "postback", tokens=side.tokens if side else (), closed=closed)


def url_warnings(source: TrafficSource) -> list[linter.UrlWarning]:
    if not source.postback_url:
        return []
    return linter.warnings_of("postback_url", lint_postback(source.postback_url, source.template))


def masked_postback_url(source: TrafficSource) -> str | None:
    """The postback URL as lists and viewers see it: the source's credentials masked (one
    source read by id shows it whole to an admin, who must be able to edit it)."""
    masker = source_masker(source.postback_url, source.postback_signing_secret)
    return masker.text(source.postback_url)


def _generated_postback(template: Template, given: dict[str, Any]) -> dict[str, Any]:
    """postback_url from the template's variant and settings, when the request asks for one."""
    if "postback_variant" not in given and not given.get("postback_settings"):
        return {}
    if given.get("postback_url"):
        raise field_error("postback_variant", "give postback_url or a variant, not both")
    settings = given.get("postback_settings") or {}
    try:
        url = generators.source_postback_url(template, given.get("postback_variant"), settings)
    except generators.GeneratorError as exc:
        raise field_error(exc.field, str(exc)) from None
    return {"postback_url": url}


def get(session: Session, source_id: int) -> TrafficSource:
    source = repository.get(session, source_id)
    if source is None:
        raise NotFound(f"traffic source {source_id} does not exist")
    return source


def list_sources(
    session: Session, after: int | None, limit: int, include_archived: bool
) -> Sequence[TrafficSource]:
    return repository.list_after(session, after, limit, include_archived=include_archived)


def update(session: Session, source_id: int, body: TrafficSourceUpdate) -> TrafficSource:
    source = get(session, source_id)
    changes = body.changes()
    if "postback_skip_flags" in changes:
        changes["postback_skip_flags"] = flags.mask_of(changes["postback_skip_flags"])
    generate = {name: changes.pop(name) for name in _GENERATOR_FIELDS if name in changes}
    if "template" in changes or generate:
        template = source_template(changes.get("template", source.template))
        changes.update(_generated_postback(template, {**changes, **generate}))
        if "template" in changes and "events_case_insensitive" not in changes:
            changes["events_case_insensitive"] = template.events_case_insensitive
    url = changes.get("postback_url", source.postback_url)
    if url and ("postback_url" in changes or "template" in changes):
        linter.enforce("postback_url", lint_postback(url, changes.get("template", source.template)))
    for name, value in changes.items():
        setattr(source, name, value)
    if any(name.startswith("postback_") for name in changes):
        # Editing the postback is how a user says "try this destination again".
        source.postback_disabled_at = None
        source.postback_disabled_reason = None
        source.postback_failing_since = None
    session.flush()
    return source


def archive(session: Session, source_id: int) -> TrafficSource:
    return update(session, source_id, TrafficSourceUpdate(archived=True))

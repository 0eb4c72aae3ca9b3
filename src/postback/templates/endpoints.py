"""`/api/v1/templates`: the presets, as data, for the set-up wizard and scripts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from postback.api_keys.auth import REQUIRE_API_KEY
from postback.kit.errors import NotFound
from postback.templates import registry
from postback.templates.schemas import Template

router = APIRouter(prefix="/templates", tags=["templates"], dependencies=REQUIRE_API_KEY)


class TemplateList(BaseModel):
    items: list[Template]


@router.get("", response_model=TemplateList)
def list_templates() -> TemplateList:
    return TemplateList(items=[registry.all_templates()[n] for n in registry.names()])


@router.get("/{name}", response_model=Template)
def get_template(name: Annotated[str, Path(max_length=50)]) -> Template:
    template = registry.get(name)
    if template is None:
        raise NotFound(f"template {name!r} does not exist: one of {', '.join(registry.names())}")
    return template

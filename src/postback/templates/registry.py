"""The preset registry: every `*.toml` file next to this module, validated on first use."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from postback.templates.schemas import Template

CUSTOM = "custom"


class TemplateError(Exception):
    """A preset file is broken: a bug in the repository, reported with the file's name."""


def load_file(path: Path) -> Template:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        template = Template.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise TemplateError(f"{path.name}: {exc}") from exc
    if template.name != path.stem:
        raise TemplateError(f"{path.name}: name {template.name!r} must match the file name")
    return template


def load_dir(folder: Path) -> dict[str, Template]:
    templates = [load_file(path) for path in sorted(folder.glob("*.toml"))]
    return {t.name: t for t in templates}


@lru_cache(maxsize=1)
def all_templates() -> dict[str, Template]:
    folder = Path(str(files("postback.templates")))
    found = load_dir(folder)
    if CUSTOM not in found:
        raise TemplateError("the custom preset is missing")
    return found


def get(name: str) -> Template | None:
    return all_templates().get(name)


def names() -> list[str]:
    return sorted(all_templates())

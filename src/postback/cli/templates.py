"""`postback templates [NAME]`: the presets shipped with this version, read from the package."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from postback.cli.app import CliError, app
from postback.cli.output import Format, FormatOpt, emit, out
from postback.templates import registry
from postback.templates.schemas import Template


@app.command()
def templates(
    name: Annotated[str | None, typer.Argument(help="Show one preset in full.")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """List the traffic-source, tracker and network presets, or show one."""
    if name is None:
        rows = [_row(registry.all_templates()[n]) for n in registry.names()]
        emit(rows, fmt, title="Templates")
        return
    template = registry.get(name)
    if template is None:
        raise CliError(f"no template {name!r}: one of {', '.join(registry.names())}")
    if fmt is Format.table:
        _show(template)
    else:
        out.print_json(template.model_dump_json())


def _row(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "title": t.title,
        "kind": t.kind,
        "macros": t.macro_syntax,
        "sends": "+".join(s for s, on in (("clicks", t.source), ("postbacks", t.network)) if on),
    }


def _show(t: Template) -> None:
    out.print(
        f"[bold]{escape(t.title)}[/] ({t.name}, {t.kind}, macros like {escape(t.macro_syntax)})"
    )
    if t.source:
        tokens = " ".join(f"{k}={v}" for k, v in t.source.tokens.items())
        out.print(f"Click ID: {escape(t.source.click_param)}={escape(t.source.click_macro)}")
        if tokens:
            out.print(f"Tokens: {escape(tokens)}")
        for v in t.source.postbacks:
            out.print(f"Postback '{v.name}' ({escape(v.title)}): {escape(v.url)}")
    if t.network:
        query = "&".join(f"{k}={v}" for k, v in t.network.postback.items())
        out.print(f"Offer link parameter for our click ID: {escape(t.network.offer_param)}")
        out.print(f"Postback parameters: {escape(query)}")
        out.print(f"Duplicates: {t.network.duplicate_mode}")
        if t.network.status_map:
            out.print(f"Status words: {escape(str(t.network.status_map))}")
    for doc in t.docs:
        out.print(f"Source: {escape(doc)}")

"""The Typer application that every command module registers on."""

from __future__ import annotations

from importlib.metadata import version as package_version
from typing import Annotated

import typer

from postback.cli.output import out

__version__ = package_version("postback")

app = typer.Typer(
    name="postback",
    help="Self-hosted server-to-server conversion tracker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold secrets (keys, database URLs)
)
api_key_app = typer.Typer(help="Manage admin API keys.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


class CliError(Exception):
    """A failure the user can fix; the message is the whole story."""


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"postback {__version__}")
        raise typer.Exit()

"""`postback user create` and `postback user list`: the dashboard's sign-ins."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from postback.cli.app import CliError, app
from postback.cli.output import Format, FormatOpt, emit, note
from postback.config import Settings
from postback.users.schemas import UserCreate
from postback.users.tables import Role

user_app = typer.Typer(help="Manage dashboard users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: `printf '%s\n' "$PASSWORD" | postback user create ... --password-stdin`.
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: pass it with --password-stdin")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Argument(help="The user's email; they sign in with it.")],
    role: Annotated[
        str, typer.Option(help="admin (may change things) or viewer (may only look).")
    ] = Role.VIEWER.value,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a dashboard user (the password is asked for, or read with --password-stdin)."""
    from postback.kit.db import Database
    from postback.users.service import create_user

    password = _read_password(password_stdin)
    data = UserCreate.parse(email, password, role)
    db = Database(Settings())
    try:
        with db.session() as session:
            user = create_user(session, data)
    finally:
        db.dispose()
    note.print(f"Created {user.role} {escape(user.email)}; they can sign in at /login.")


@user_app.command("list")
def user_list(fmt: FormatOpt = Format.table) -> None:
    """List the dashboard users."""
    from postback.kit.db import Database
    from postback.users.service import list_users

    db = Database(Settings())
    try:
        with db.session() as session:
            rows = [
                {
                    "email": u.email,
                    "role": u.role,
                    "created_at": u.created_at.isoformat(timespec="seconds"),
                    "state": "disabled" if u.disabled else "active",
                }
                for u in list_users(session)
            ]
    finally:
        db.dispose()
    if not rows and fmt is Format.table:
        note.print("No users yet: create one with `postback user create EMAIL --role admin`.")
        return
    emit(rows, fmt, title="Users")

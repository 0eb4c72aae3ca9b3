"""The `postback` command line.

Every command reports a failure as one line on stderr and a non-zero exit code: `main()` turns
the errors a user can cause or fix (database unreachable, server down, bad setting) into that
line, and only a real bug shows a traceback.
"""

from __future__ import annotations

from typing import NoReturn

import httpx
import typer
from alembic.util import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from postback.cli import (  # noqa: F401 - registers the commands
    check,
    commands,
    deliveries,
    report,
    reports,
    serve,
    templates,
    users,
)
from postback.cli.app import CliError, app
from postback.demo import DemoError
from postback.kit.errors import PostbackError

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    except (CliError, DemoError) as exc:
        _fail(str(exc))
    except PostbackError as exc:
        _fail(exc.detail)
    except httpx.HTTPError as exc:
        where = f" to {exc.request.url}" if _has_request(exc) else ""
        _fail(f"request{where} failed: {_first_line(exc)}")
    except DBAPIError as exc:
        _fail(_database_message(exc))
    except (SQLAlchemyError, CommandError) as exc:
        _fail(f"database error: {_first_line(exc)}")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        _fail(f"invalid setting: {problems}")


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error has no request
    except RuntimeError:
        return False
    return True


def _database_message(exc: DBAPIError) -> str:
    text = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return f"database is not set up ({text}): run `postback migrate` first"
    return f"cannot use the database: {text}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise SystemExit(1)

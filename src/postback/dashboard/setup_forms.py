"""Set-up forms: an HTML form's fields become the admin API's request models, so a page
validates exactly as the API does; a refusal (pydantic's or a service's 422) becomes messages
next to the fields, and the page shows the form again with what the user typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import Session

from postback.dashboard.forms import FormData
from postback.kit.errors import Unprocessable

T = TypeVar("T")
# Messages by form field ("" for the form as a whole); a field of a list ("offers") holds the
# messages of all its rows.
FieldErrors = dict[str, list[str]]
MAX_LISTED = 500


class Refused(Exception):
    def __init__(self, errors: FieldErrors) -> None:
        super().__init__("; ".join(m for ms in errors.values() for m in ms))
        self.errors = errors


def _add(errors: FieldErrors, where: str, message: str) -> None:
    field, _, rest = where.partition(".")
    text = f"{rest.replace('.', ' ')}: {message}" if rest else message
    errors.setdefault(field, []).append(text[:1].upper() + text[1:])


def from_pydantic(exc: ValidationError) -> FieldErrors:
    errors: FieldErrors = {}
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        _add(errors, ".".join(str(part) for part in error["loc"]), message)
    return errors


def from_service(exc: Unprocessable) -> FieldErrors:
    errors: FieldErrors = {}
    found = exc.extra if isinstance(exc.extra, list) else []
    for item in found:
        _add(errors, str(item.get("field", "")), str(item.get("message", "")))
    if not found:
        _add(errors, "", exc.detail)
    return errors


def attempt(session: Session, action: Callable[[], T]) -> T:
    """Run one save. A refusal rolls back whatever it flushed (the request would otherwise
    commit it with the re-shown form) and is raised as `Refused`."""
    try:
        return action()
    except ValidationError as exc:
        session.rollback()
        raise Refused(from_pydantic(exc)) from None
    except Unprocessable as exc:
        session.rollback()
        raise Refused(from_service(exc)) from None


def given(form: FormData, names: Iterable[str]) -> dict[str, str]:
    """The named fields that are not blank: a blank field means "the default"."""
    found = {name: form.text(name, 4096) for name in names}
    return {name: value for name, value in found.items() if value}


def blanks_as_none(form: FormData, names: Iterable[str]) -> dict[str, str | None]:
    """For edits: a cleared field clears the value."""
    return {name: form.text(name, 4096) or None for name in names}


def split_list(text: str) -> list[str]:
    """ "a, b c" -> ["a", "b", "c"]: lists typed into one field."""
    return [item for item in text.replace(",", " ").split() if item]


def rows(form: FormData, prefix: str, id_name: str, count: int) -> list[dict[str, Any]]:
    """Repeated rows `<prefix>_<i>` (an ID) and `<prefix>_weight_<i>`; rows left empty are
    skipped, and an ID or weight that is not a number is passed on for the model to refuse."""
    found = []
    for i in range(count):
        item = form.text(f"{prefix}_{i}", 20)
        if not item:
            continue
        weight = form.text(f"{prefix}_weight_{i}", 20)
        row: dict[str, Any] = {id_name: item}
        if weight:
            row["weight"] = weight
        found.append(row)
    return found

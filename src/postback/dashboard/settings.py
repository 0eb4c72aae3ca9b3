"""`/settings`: admin API keys (list, create — the key is shown once —, revoke) and the users.

Keys go through the api_keys service, exactly as the admin API manages them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from postback.api_keys import service as api_keys
from postback.api_keys.auth import forget_verified_keys
from postback.dashboard.auth import AdminPost, UserDep
from postback.dashboard.render import SECURITY_HEADERS, render
from postback.kit.fields import MAX_ROW_ID
from postback.kit.pagination import IdPath
from postback.kit.session import ReadSessionDep, SessionDep, after_commit
from postback.users import service as users

router = APIRouter(include_in_schema=False)
# A settings page lists them all; a deployment has a handful of keys and users, not thousands.
MAX_LISTED = 500
NAME_MAX = 100


def _page(
    request: Request, session: Session, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    context: dict[str, Any] = {
        "keys": api_keys.list_keys(session, None, MAX_LISTED),
        "users": users.list_users(session)[:MAX_LISTED],
        "new_key": None,
        "key_error": None,
        "key_name": "",
        "revoked": None,
    }
    context.update(extra)
    return render(request, "settings.html", context, status_code=status_code)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    user: UserDep,
    session: ReadSessionDep,
    revoked: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
) -> HTMLResponse:
    return _page(request, session, revoked=revoked)


@router.post("/settings/api-keys", response_class=HTMLResponse)
def create_api_key(request: Request, post: AdminPost, session: SessionDep) -> HTMLResponse:
    name = post.form.get("name", "").strip()
    if not name or len(name) > NAME_MAX:
        error = f"Give the key a name of 1 to {NAME_MAX} characters, e.g. 'ci' or 'zapier'."
        return _page(request, session, status_code=422, key_error=error, key_name=name[:NAME_MAX])
    key, plaintext = api_keys.create_key(session, name)
    # Rendered in this response, never put in a URL: the plaintext exists only here.
    return _page(request, session, status_code=201, new_key={"name": key.name, "key": plaintext})


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: IdPath, post: AdminPost, session: SessionDep) -> Response:
    api_keys.revoke_key(session, key_id)
    after_commit(session, forget_verified_keys)
    return RedirectResponse(
        f"/settings?revoked={key_id}", status_code=303, headers=SECURITY_HEADERS
    )

"""Read queries for the clicks API and the dashboard's click log (the hot path's SQL stays in
repository.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from postback.models import Click


def get_click(session: Session, clickid: str) -> Click | None:
    return session.get(Click, clickid)


def list_clicks(
    session: Session, campaign_id: int | None, after: Click | None, limit: int
) -> Sequence[Click]:
    """Newest first, `limit` rows after the click `after` (the previous page's last row).

    Without a campaign the primary key is the order (ids are ULIDs, so id order is time
    order). With one, the (campaign_id, created_at) index is: ordering that campaign's clicks
    by id instead would sort all of them before the LIMIT applies.
    """
    query = select(Click).limit(limit)
    if campaign_id is None:
        query = query.order_by(Click.id.desc())
        if after is not None:
            query = query.where(Click.id < after.id)
        return session.scalars(query).all()
    query = query.where(Click.campaign_id == campaign_id).order_by(
        Click.created_at.desc(), Click.id.desc()
    )
    if after is not None:
        # The plain upper bound lets the index range start at the cursor; the OR breaks ties.
        query = query.where(
            Click.created_at <= after.created_at,
            or_(
                Click.created_at < after.created_at,
                and_(Click.created_at == after.created_at, Click.id < after.id),
            ),
        )
    return session.scalars(query).all()

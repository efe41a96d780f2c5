"""`/api/v1/notifications/inbox` and `/stream`: the caller's own in-app messages, live over SSE."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from services.notification.api.deps import InboxDep, Reader, StreamsDep
from services.notification.schemas import InboxItemOut, InboxPage, Marked
from services.notification.service.inbox import item_json
from shared import cursors, errors
from shared.auth.tokens import Principal
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/notifications", tags=["inbox"], responses=problem_responses(400, 401, 403))


def _me(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise errors.PermissionDenied("the inbox belongs to a user")
    return principal.user_id


@router.get("/inbox", response_model=InboxPage)
async def inbox(
    messages: InboxDep,
    principal: Reader,
    state: Annotated[str, Query(pattern="^(all|unread|read|archived)$")] = "all",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> InboxPage:
    """Newest first; `all` leaves out archived ones. `unread` counts what is neither read nor archived."""
    before = cursors.decode(cursor, (int,))[0] if cursor else None
    items, unread, next_seq = await messages.page(principal.tenant, _me(principal), state, limit, before)
    return InboxPage(
        items=[InboxItemOut(**item_json(i)) for i in items],
        unread=unread,
        next_cursor=cursors.encode([next_seq]) if next_seq is not None else None,
    )


@router.post("/inbox/read-all", response_model=Marked)
async def read_all(messages: InboxDep, principal: Reader) -> Marked:
    return Marked(changed=await messages.mark(principal.tenant, _me(principal), None, "read"))


@router.post("/inbox/{item_id}/read", response_model=Marked, responses=problem_responses(404))
async def read(item_id: uuid.UUID, messages: InboxDep, principal: Reader) -> Marked:
    return Marked(changed=await messages.mark(principal.tenant, _me(principal), item_id, "read"))


@router.post("/inbox/{item_id}/archive", response_model=Marked, responses=problem_responses(404))
async def archive(item_id: uuid.UUID, messages: InboxDep, principal: Reader) -> Marked:
    return Marked(changed=await messages.mark(principal.tenant, _me(principal), item_id, "archive"))


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `notification` events, `id` to resume from.",
            "content": {"text/event-stream": {}},
        }
    },
)
async def stream(
    messages: InboxDep,
    streams: StreamsDep,
    principal: Reader,
    last_event_id: Annotated[str | None, Header(max_length=20, pattern=r"^[0-9]+$")] = None,
) -> StreamingResponse:
    """New in-app messages as they arrive; after a reconnect, send `Last-Event-ID` to get what was
    missed."""
    events = streams.stream(
        messages, principal.tenant, _me(principal), int(last_event_id) if last_event_id else None
    )
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

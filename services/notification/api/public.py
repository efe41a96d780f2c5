"""Public routes a message's links and its providers reach without a session: the SMS status
callback (signature checked), the open pixel, click redirects, one-click unsubscribe (RFC 8058).
Each carries a signed token; a forged or altered one is a 400."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from services.notification.api.deps import ContainerDep, TrackingDep
from shared.problems import problem_responses

router = APIRouter(prefix="/api/v1/notifications", tags=["links"], responses=problem_responses(400))
Token = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{20,1200}\.[A-Za-z0-9_-]{10,40}$")]
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@router.post("/callbacks/twilio/{token}", status_code=204, response_class=Response)
async def twilio_status(
    token: Token,
    request: Request,
    tracking: TrackingDep,
    container: ContainerDep,
    signature: Annotated[str | None, Header(alias="X-Twilio-Signature", max_length=200)] = None,
) -> Response:
    """Twilio's status callback, verified against the URL we gave it (PUBLIC_URL + this path)."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    url = f"{str(container.settings.public_url).rstrip('/')}{request.url.path}"
    await tracking.sms_status(token, url, params, signature)
    return Response(status_code=204)


@router.get("/t/open/{token}", response_class=Response, responses={200: {"content": {"image/gif": {}}}})
async def opened(token: Token, tracking: TrackingDep) -> Response:
    await tracking.opened(token)
    return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})


@router.get("/t/click/{token}", response_class=RedirectResponse, status_code=302)
async def clicked(token: Token, tracking: TrackingDep) -> RedirectResponse:
    return RedirectResponse(await tracking.clicked(token), status_code=302)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: Token) -> HTMLResponse:
    """A link scanner may open this: it only offers the button; the POST unsubscribes."""
    return HTMLResponse(
        '<!doctype html><meta charset="utf-8"><title>Unsubscribe</title>'
        f'<form method="post" action="{token}"><button>Stop these emails</button></form>'
    )


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: Token, tracking: TrackingDep) -> HTMLResponse:
    """One click: email of this message's category off for its recipient (not for critical ones)."""
    category = await tracking.unsubscribe(token)
    return HTMLResponse(
        f'<!doctype html><meta charset="utf-8"><p>You will get no more "{category}" emails.</p>'
    )

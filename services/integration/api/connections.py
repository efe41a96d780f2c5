"""`/api/v1/integrations`: providers, connections (credentials write-only), OAuth, Mautic credentials."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from services.integration.api.deps import ConnectionsDep, CredentialReader, Manager, Reader
from services.integration.domain.catalog import PROVIDERS
from services.integration.schemas import (
    AuthorizeIn,
    AuthorizeOut,
    ConnectionIn,
    ConnectionOut,
    ConnectionPage,
    ConnectionUpdate,
    FieldOut,
    MauticCredentialsOut,
    ProviderList,
    ProviderOut,
)
from services.integration.service.connections import ConnectionChanges, NewConnection
from shared import cursors
from shared.problems import problem_responses

router = APIRouter(
    prefix="/api/v1/integrations", tags=["integrations"], responses=problem_responses(400, 401, 403)
)
ONE = problem_responses(404)
ProviderName = Annotated[str, Path(pattern=r"^[a-z_]{1,30}$")]


@router.get("/providers", response_model=ProviderList)
async def list_providers(principal: Reader) -> ProviderList:
    """What each provider needs from a connection: credential fields (write-only), options, scopes."""
    return ProviderList(
        items=[
            ProviderOut(
                name=p.name,
                title=p.title,
                kind=p.kind,
                auth=p.auth,
                connectable=p.connectable,
                channel=p.channel,
                credentials=[
                    FieldOut(name=f.name, description=f.description, required=f.required)
                    for f in p.credentials
                ],
                options=[
                    FieldOut(name=f.name, description=f.description, required=f.required) for f in p.options
                ],
                scopes=list(p.scopes),
                trailing_days=p.trailing_days,
            )
            for p in PROVIDERS.values()
        ]
    )


@router.post(
    "/connections",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectionOut,
    responses=problem_responses(409),
)
async def create_connection(
    body: ConnectionIn, connections: ConnectionsDep, principal: Manager, response: Response
) -> ConnectionOut:
    new = NewConnection(
        provider=body.provider,
        name=body.name,
        account_id=body.account_id,
        credentials=dict(body.credentials),
        options=dict(body.options),
        sync_interval_minutes=body.sync_interval_minutes,
    )
    created = await connections.create(principal.tenant, new)
    response.headers["Location"] = f"/api/v1/integrations/connections/{created.id}"
    return ConnectionOut.model_validate(created)


@router.get("/connections", response_model=ConnectionPage)
async def list_connections(
    connections: ConnectionsDep,
    principal: Reader,
    provider: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ConnectionPage:
    after = cursors.decode(cursor, (datetime.fromisoformat, uuid.UUID)) if cursor else None
    found = await connections.list(principal.tenant, provider, limit + 1, after)
    page = found[:limit]
    more = len(found) > limit
    return ConnectionPage(
        items=[ConnectionOut.model_validate(c) for c in page],
        next_cursor=cursors.encode([page[-1].created_at.isoformat(), page[-1].id]) if more else None,
    )


@router.get("/connections/{connection_id}", response_model=ConnectionOut, responses=ONE)
async def get_connection(
    connection_id: uuid.UUID, connections: ConnectionsDep, principal: Reader
) -> ConnectionOut:
    return ConnectionOut.model_validate(await connections.get(principal.tenant, connection_id))


@router.patch("/connections/{connection_id}", response_model=ConnectionOut, responses=ONE)
async def update_connection(
    connection_id: uuid.UUID, body: ConnectionUpdate, connections: ConnectionsDep, principal: Manager
) -> ConnectionOut:
    """New credentials replace all the old ones; `sync_interval_minutes: null` stops the schedule."""
    given = body.model_fields_set
    changes = ConnectionChanges(
        name=body.name,
        credentials=dict(body.credentials) if body.credentials is not None else None,
        options=dict(body.options) if body.options is not None else None,
        sync_interval_minutes=body.sync_interval_minutes,
        clear_interval="sync_interval_minutes" in given and body.sync_interval_minutes is None,
        status=body.status,
    )
    return ConnectionOut.model_validate(await connections.update(principal.tenant, connection_id, changes))


@router.delete("/connections/{connection_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ONE)
async def delete_connection(
    connection_id: uuid.UUID, connections: ConnectionsDep, principal: Manager
) -> Response:
    await connections.delete(principal.tenant, connection_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/oauth/{provider}/authorize", response_model=AuthorizeOut, responses=problem_responses(503))
async def authorize(
    provider: str, body: AuthorizeIn, connections: ConnectionsDep, principal: Manager
) -> AuthorizeOut:
    """Start the authorization-code flow with PKCE: send the user to `authorization_url`; the
    provider returns them to `/oauth/callback`, which creates the connection."""
    url, state = await connections.authorize(
        principal.tenant, provider, body.name, body.account_id, principal.actor
    )
    return AuthorizeOut(authorization_url=url, state=state.state, expires_at=state.expires_at)


@router.get(
    "/oauth/callback",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectionOut,
    responses=problem_responses(400, 503),
)
async def oauth_callback(
    connections: ConnectionsDep,
    state: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,200}$")],
    code: Annotated[str, Query(pattern=r"^[\x21-\x7e]{1,2000}$", description="As the provider sent it.")],
) -> ConnectionOut:
    """Public (the browser carries no token): the single-use state names the tenant."""
    return ConnectionOut.model_validate(await connections.callback(state, code))


@router.get("/mautic/credentials", response_model=MauticCredentialsOut, responses=ONE)
async def mautic_credentials(
    connections: ConnectionsDep, principal: CredentialReader
) -> MauticCredentialsOut:
    """The tenant's Mautic, opened for campaign_management (a service-only permission)."""
    connection, secrets = await connections.mautic_credentials(principal.tenant)
    return MauticCredentialsOut(
        connection_id=connection.id,
        base_url=str(connection.options["base_url"]),
        username=secrets.get("username"),
        password=secrets.get("password"),
        client_id=secrets.get("client_id"),
        client_secret=secrets.get("client_secret"),
    )

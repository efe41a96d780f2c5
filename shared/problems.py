"""RFC 9457 problem details for every error a service answers.

Service layers raise domain errors (`shared.errors`), mapped here to a status once for every
service (`STATUS_OF`); HTTP-only code (auth dependencies, the gateway) may raise `ProblemError`.
The handlers installed by the app factory turn those, HTTP errors, validation errors and
unexpected exceptions into `application/problem+json`. Unexpected exceptions are logged with the
request id and answered without internals.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import errors
from shared.context import request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://bizosaas.dev/problems/"

logger = logging.getLogger("shared.problems")


class ProblemError(Exception):
    status: int = 500
    title: str | None = None
    problem_type: str | None = None

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        title: str | None = None,
        problem_type: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.title = title or self.title or HTTPStatus(self.status).phrase
        self.problem_type = problem_type or self.problem_type
        self.headers = headers or {}
        self.extra = extra


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401
    problem_type = "unauthorized"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        super().__init__(detail, **kwargs)


class Forbidden(ProblemError):
    status = 403
    problem_type = "forbidden"


class NotFound(ProblemError):
    status = 404
    problem_type = "not-found"


class Conflict(ProblemError):
    status = 409
    problem_type = "conflict"


class Unprocessable(ProblemError):
    status = 422
    problem_type = "validation-error"


class TooManyRequests(ProblemError):
    status = 429
    problem_type = "rate-limited"


class ServiceUnavailable(ProblemError):
    status = 503
    problem_type = "unavailable"


STATUS_OF: dict[type[errors.DomainError], int] = {
    errors.InvalidInput: 422,
    errors.BadReference: 400,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.PreconditionFailed: 412,
    errors.Locked: 423,
    errors.Unavailable: 503,
}


def status_of(error: errors.DomainError) -> int:
    """The status of the nearest mapped class in the error's ancestry (500 if none is)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]  # type: ignore[index]
    return 500


PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_SCHEMA_NAME,
    "description": "RFC 9457 problem details; some problems add members (e.g. `errors`, `locked_until`).",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}


def _problem_content() -> dict[str, Any]:
    """A fresh copy each time: FastAPI and the gateway's merge may update response dicts in place."""
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"}}}


_FASTAPI_VALIDATION_REF = "#/components/schemas/HTTPValidationError"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: these statuses answer `application/problem+json`."""
    return {
        status: {"description": HTTPStatus(status).phrase, "content": _problem_content()}
        for status in statuses
    }


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the handlers below really answer: FastAPI documents every
    422 as `application/json` HTTPValidationError, but `_on_validation` answers a problem; and a
    body that cannot be parsed at all (not UTF-8, broken form encoding) is a 400 problem."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components[PROBLEM_SCHEMA_NAME] = PROBLEM_SCHEMA
    for item in openapi.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            content = responses.get("422", {}).get("content", {})
            if content.get("application/json", {}).get("schema", {}).get("$ref") == _FASTAPI_VALIDATION_REF:
                responses["422"] = {
                    "description": "Request validation failed",
                    "content": _problem_content(),
                }
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "Bad Request", "content": _problem_content()})
    for name in ("HTTPValidationError", "ValidationError"):
        if f'"#/components/schemas/{name}"' not in json.dumps(openapi):
            components.pop(name, None)
    return openapi


def problem_body(
    status: int, title: str, detail: str, problem_type: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + problem_type if problem_type else "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    request_id = request_id_var.get()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    problem_type: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, title or HTTPStatus(status).phrase, detail, problem_type, **extra)
    return JSONResponse(
        jsonable_encoder(body), status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE
    )


async def _on_problem(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem_response(
        error.status,
        error.detail,
        title=error.title,
        problem_type=error.problem_type,
        headers=error.headers,
        **error.extra,
    )


async def _on_domain(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, errors.DomainError)
    status = status_of(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    extra = dict(error.extra)
    if status == 503 and extra.get("retry_after") is not None:
        headers["Retry-After"] = str(int(extra["retry_after"]))
    return problem_response(status, error.detail, problem_type=error.code, headers=headers, **extra)


async def _on_http(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    return problem_response(error.status_code, detail, headers=getattr(error, "headers", None))


def _safe_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    """Validation errors without echoing the input back (it may hold a password)."""
    return [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()
    ]


async def _on_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = _safe_errors(error)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return problem_response(
        422,
        f"{where}: {first['msg']}" if where else first["msg"],
        title="Request validation failed",
        problem_type="validation-error",
        errors=errors,
    )


async def _on_unstorable_text(_: Request, error: Exception) -> JSONResponse:
    """A NUL in a query parameter (bodies are checked at the door) reaches PostgreSQL, which
    refuses it: the client's mistake, not ours."""
    return problem_response(
        422,
        "a text in the request holds a NUL character, which cannot be stored",
        problem_type="invalid-text",
    )


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "An unexpected error occurred; it has been logged.", problem_type="internal")


UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(errors.DomainError, _on_domain)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    for unstorable in UNSTORABLE_TEXT:
        app.add_exception_handler(unstorable, _on_unstorable_text)
    app.add_exception_handler(Exception, _on_unexpected)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

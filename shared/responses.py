"""Answering with a model that is already validated.

FastAPI turns a returned model into a dict, validates that against the route's response model and
serializes the result: three passes over every field. For large answers (pages of 50 objects)
build the model once and write its JSON directly; keep `response_model` on the route for the docs.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


def json_of(model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(model.model_dump_json(), status_code, headers, media_type="application/json")

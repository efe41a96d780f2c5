"""HTTP routes of integration: parse, authorize, call a use case, shape the answer."""

from fastapi import APIRouter

ROUTERS: tuple[APIRouter, ...] = ()

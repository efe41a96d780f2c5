"""HTTP routes of campaign_management: parse, authorize, call a use case, shape the answer."""

from fastapi import APIRouter

ROUTERS: tuple[APIRouter, ...] = ()

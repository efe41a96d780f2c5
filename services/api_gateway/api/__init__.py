"""The gateway's own routes (everything under `/api/v1` is forwarded, see `middleware.py`)."""

from services.api_gateway.api import health

ROUTERS = (health.router,)

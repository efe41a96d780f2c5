"""HTTP routes of analytics: parse, authorize, call a use case, shape the answer."""

from services.analytics.api import alerts, dashboards, metrics, reports

ROUTERS = (metrics.router, dashboards.router, reports.router, alerts.router)

"""HTTP routes of notification: parse, authorize, call a use case, shape the answer."""

from services.notification.api import inbox, notifications, preferences, public, templates

ROUTERS = (inbox.router, preferences.router, templates.router, public.router, notifications.router)

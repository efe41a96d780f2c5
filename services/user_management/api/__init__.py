"""HTTP routes of user_management: parse, authorize, call a use case, shape the answer."""

from services.user_management.api import auth, tenants, users

ROUTERS = (auth.jwks, auth.router, users.router, tenants.router)

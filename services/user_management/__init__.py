"""User Management service. Tenants, users, login and token rotation, RBAC, sessions, security log, service accounts, JWKS."""

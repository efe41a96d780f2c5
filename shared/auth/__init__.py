"""Auth: token verification against JWKS (`tokens`), roles and permissions (`permissions`), the
FastAPI dependencies (`deps`) and service tokens (`service_client`).

Import from the submodules: this package imports nothing itself, so a pure domain module can use
`shared.auth.permissions` without pulling in FastAPI.
"""

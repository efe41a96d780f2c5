"""The layering rules of DESIGN §2 that import-linter cannot see.

`lint-imports` (run by ./run-tests.sh) checks the static import graph, but it does not follow the
code a package's `__init__.py` runs when a submodule is imported; that is how a domain module once
pulled in FastAPI. So each pure module is imported here in a fresh interpreter and the modules it
really loaded are inspected.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.fleet import REPO_ROOT

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "redis", "httpx", "aiohttp")


def pure_modules() -> list[str]:
    found = [
        f"services.{path.parent.name}.domain" for path in sorted((REPO_ROOT / "services").glob("*/domain.py"))
    ]
    found += [
        f"services.{path.parent.parent.name}.domain.{path.stem}"
        for path in sorted((REPO_ROOT / "services").glob("*/domain/*.py"))
        if path.stem != "__init__"
    ]
    return [*found, "services.api_gateway.routing", "shared.errors", "shared.net", "shared.auth.permissions"]


def test_every_service_with_rules_has_them_in_a_domain_module() -> None:
    assert "services.user_management.domain" in pure_modules()


@pytest.mark.parametrize("module", pure_modules())
def test_a_pure_module_loads_no_framework_even_indirectly(module: str) -> None:
    probe = (
        f"import sys; import {module}; "
        f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "", f"{module} loads {result.stdout.strip()}"


def test_the_check_would_catch_an_indirect_framework_import() -> None:
    """shared.auth.deps imports FastAPI: the probe above must see it through any path."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys, shared.auth.deps; print('fastapi' in sys.modules)"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "True"

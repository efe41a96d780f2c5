"""The provider fakes the dev stack runs, so every flow works offline (fakes/, the same servers
the tests use). A provider whose base URL is set in the environment (`.env` or the shell) is the
real one: its fake is not started and the services get the developer's settings instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.stackenv import settings_class
from shared.config import env_names
from shared.fleet import REPO_ROOT, SERVICES


@dataclass(frozen=True)
class ProviderFake:
    module: str  # fakes.<module>
    port: int
    url_setting: str
    extra: Mapping[str, str] = field(default_factory=dict)  # the fake's default credentials
    more_urls: tuple[str, ...] = ()  # other base URLs the same fake serves (OAuth hosts)

    def settings(self, port: int) -> dict[str, str]:
        url = f"http://127.0.0.1:{port}"
        return {self.url_setting: url, **{name: url for name in self.more_urls}, **self.extra}

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", f"fakes.{self.module}", "--port", str(port)]

    def ready_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/_fake/state"


@dataclass(frozen=True)
class MailCatcher(ProviderFake):
    """SMTP on `port`, its HTTP API (where a newcomer reads the mail) on the next port."""

    def settings(self, port: int) -> dict[str, str]:
        return {self.url_setting: "127.0.0.1", "SMTP_PORT": str(port), **self.extra}

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-m", "fakes.smtp", "--smtp-port", str(port), "--http-port", str(port + 1)]

    def ready_url(self, port: int) -> str:
        return super().ready_url(port + 1)


PROVIDER_FAKES = (
    ProviderFake("mautic", 8091, "MAUTIC_URL", {"MAUTIC_USERNAME": "admin", "MAUTIC_PASSWORD": "admin"}),
    ProviderFake(
        "google_ads",
        8092,
        "GOOGLE_ADS_URL",
        {
            "GOOGLE_ADS_DEVELOPER_TOKEN": "fake-developer-token",
            "GOOGLE_CLIENT_ID": "fake-google-client-id",
            "GOOGLE_CLIENT_SECRET": "fake-google-client-secret",
        },
        ("GOOGLE_OAUTH_URL", "GOOGLE_AUTH_URL"),
    ),
    ProviderFake(
        "meta",
        8093,
        "META_GRAPH_URL",
        # The fake's app secret, which also signs Meta webhooks (the developer sees it in stack.env).
        {"META_APP_ID": "fake-meta-app-id", "META_APP_SECRET": "fake-meta-app-secret"},
        ("META_DIALOG_URL",),
    ),
    ProviderFake(
        "linkedin",
        8094,
        "LINKEDIN_API_URL",
        {
            "LINKEDIN_CLIENT_ID": "fake-linkedin-client-id",
            "LINKEDIN_CLIENT_SECRET": "fake-linkedin-client-secret",
        },
        ("LINKEDIN_OAUTH_URL",),
    ),
    MailCatcher("smtp", 8025, "SMTP_HOST", {"SMTP_SECURITY": "none"}),
    ProviderFake(
        "twilio",
        8096,
        "TWILIO_URL",
        {
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 28 + "fa4e",
            "TWILIO_AUTH_TOKEN": "fake_twilio_auth_token_000000000",
            "TWILIO_FROM": "+15005550006",
        },
    ),
    ProviderFake(
        "stripe",
        8095,
        "STRIPE_API_URL",
        {
            "STRIPE_API_KEY": "sk_test_fake_bizosaas",
            "STRIPE_PRICES": '{"pro": "price_pro_monthly", "enterprise": "price_enterprise_monthly"}',
        },
    ),
)


def wanted(environ: Mapping[str, str]) -> list[ProviderFake]:
    """The fakes to run: every provider without a base URL of the developer's own."""
    return [fake for fake in PROVIDER_FAKES if not environ.get(fake.url_setting)]


def give_to_services(envs: MutableMapping[str, dict[str, str]], settings: Mapping[str, str]) -> None:
    """Each service gets the provider settings it reads, and no other."""
    for service in SERVICES:
        reads = set(env_names(settings_class(service.name)))
        envs.setdefault(service.name, {}).update({k: v for k, v in settings.items() if k in reads})


@dataclass
class RunningFakes:
    fakes: list[ProviderFake]
    port_offset: int
    log_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> dict[str, str]:
        """Start each fake and wait until it answers; returns the settings that point at them."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        settings: dict[str, str] = {}
        for fake in self.fakes:
            port = fake.port + self.port_offset
            with (self.log_dir / f"fake-{fake.module}.log").open("ab") as log:
                self.processes.append(
                    subprocess.Popen(
                        fake.command(port),
                        cwd=REPO_ROOT,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            settings.update(fake.settings(port))
        for fake in self.fakes:
            _wait_for(fake.ready_url(fake.port + self.port_offset), timeout)
        return settings

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_for(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the provider fake at {url} did not answer within {timeout:.0f}s")

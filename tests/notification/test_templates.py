"""Templates through the live service: checked on save (undefined variables, sandbox escapes),
versioned, locale fallback, previews, and a tenant never seeing or using another's."""

from __future__ import annotations

from typing import Any

import httpx

from tests.notification.conftest import Service
from tests.notification.test_flows import mail_to, send, settled
from tests.support.kit import Account, assert_problem, register_owner


def save(
    api: httpx.Client, owner: Account, key: str, locale: str, parts: dict[str, str], sample: dict[str, Any]
) -> httpx.Response:
    return api.put(
        "/api/v1/notifications/templates",
        json={"key": key, "locale": locale, "parts": parts, "sample": sample},
        headers=owner.auth,
    )


def test_sandbox_escapes_and_undefined_variables_are_refused_on_save(
    api: httpx.Client, owner: Account
) -> None:
    for source in (
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ x.__subclasses__() }}",
    ):
        answer = save(api, owner, "evil", "default", {"subject": source}, {"x": "y"})
        assert_problem(answer, 422, "template-error")
    undefined = save(api, owner, "promo", "default", {"subject": "Hi {{ first_name }}"}, {})
    assert "first_name" in assert_problem(undefined, 422, "template-error")["detail"]
    broken = save(api, owner, "promo", "default", {"html": "<p>{{ name </p>"}, {"name": "x"})
    assert assert_problem(broken, 422)["part"] == "html"


def test_versions_locale_fallback_and_preview(api: httpx.Client, owner: Account) -> None:
    first = save(
        api,
        owner,
        "promo",
        "default",
        {"subject": "Sale for {{ name }}", "html": "<b>{{ name }}</b>"},
        {"name": "A"},
    )
    assert first.status_code == 201, first.text
    again = save(
        api,
        owner,
        "promo",
        "default",
        {"subject": "Big sale for {{ name }}", "html": "<b>{{ name }}</b>"},
        {"name": "A"},
    )
    assert again.status_code == 200 and again.json()["version"] == 2
    french = save(api, owner, "promo", "fr", {"subject": "Soldes pour {{ name }}"}, {"name": "A"})
    assert french.status_code == 201
    history = api.get(f"/api/v1/notifications/templates/{first.json()['id']}", headers=owner.auth).json()[
        "versions"
    ]
    assert [v["version"] for v in history] == [2, 1]

    def preview(locale: str) -> dict[str, Any]:
        answer = api.post(
            "/api/v1/notifications/templates/preview",
            json={"key": "promo", "locale": locale, "data": {"name": "<Zoé>"}},
            headers=owner.auth,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert preview("fr-CA")["subject"] == "Soldes pour <Zoé>"  # fr-CA -> fr
    english = preview("de-DE")  # -> default
    assert english["subject"] == "Big sale for <Zoé>" and english["html"] == "<b>&lt;Zoé&gt;</b>"
    platform = api.post(
        "/api/v1/notifications/templates/preview",
        json={"key": "welcome", "locale": "fr-CA", "data": {"full_name": "Zoé", "tenant_name": "Acme"}},
        headers=owner.auth,
    ).json()
    assert platform["subject"] == "Bienvenue sur BizOSaaS, Zoé"


def test_a_tenant_never_sees_or_uses_another_tenants_template(
    api: httpx.Client, owner: Account, user_service: str, notification: Service
) -> None:
    mine = save(
        api, owner, "secret-offer", "default", {"subject": "Only for {{ name }}", "text": "t"}, {"name": "A"}
    )
    assert mine.status_code == 201
    other = register_owner(user_service)
    assert_problem(api.get(f"/api/v1/notifications/templates/{mine.json()['id']}", headers=other.auth), 404)
    assert_problem(
        api.delete(f"/api/v1/notifications/templates/{mine.json()['id']}", headers=other.auth), 404
    )
    listed = api.get("/api/v1/notifications/templates", headers=other.auth).json()
    assert listed["items"] == [] and {t["key"] for t in listed["platform"]} >= {"welcome", "invitation"}
    refused = api.post(
        "/api/v1/notifications",
        json={
            "category": "marketing",
            "to": ["x@acme.io"],
            "template": "secret-offer",
            "data": {"name": "B"},
        },
        headers=other.auth,
    )
    assert_problem(refused, 422, "unknown-template")
    sent = send(
        api,
        owner,
        {"category": "campaign", "to": ["offer@acme.io"], "template": "secret-offer", "data": {"name": "A"}},
    )
    settled(api, owner, sent["notification_id"], "email", "sent")
    assert mail_to(notification, "offer@acme.io")[0]["subject"] == "Only for A"

"""Sending through the live service: flow 1's welcome, invitations with a working link, SMS with
signed status callbacks, retries to the dead state and re-drive, bounces, idempotent sends, quiet
hours, and what campaign_management sends with its service token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.notification.conftest import Service
from tests.support.kit import Account, assert_problem, eventually, service_headers
from tests.support.stack import Stack


def mail_to(service: Service, address: str, count: int = 1, timeout: float = 15) -> list[dict[str, Any]]:
    """The caught messages to `address` (full: headers, text and HTML parts), once there are `count`."""
    http = service.channels.mail.http_url

    def found() -> list[dict[str, Any]] | None:
        listed = httpx.get(f"{http}/messages", params={"to": address}).json()
        items = listed["messages"] if isinstance(listed, dict) else listed
        return items if len(items) >= count else None

    return [httpx.get(f"{http}/messages/{m['id']}").json() for m in eventually(found, timeout=timeout)]


def send(api: httpx.Client, account: Account, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {**account.auth, **({"Idempotency-Key": key} if key else {})}
    answer = api.post("/api/v1/notifications", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return answer.json()


def delivery(api: httpx.Client, account: Account, notification_id: str, channel: str) -> dict[str, Any]:
    found = api.get(f"/api/v1/notifications/{notification_id}", headers=account.auth).json()
    return next(d for d in found["deliveries"] if d["channel"] == channel)


def settled(
    api: httpx.Client, account: Account, notification_id: str, channel: str, *statuses: str
) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = delivery(api, account, notification_id, channel)
        return found if found["status"] in statuses else None

    return eventually(done, timeout=30)


def test_a_new_owner_gets_the_welcome_email_and_an_inbox_message(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    (message,) = mail_to(notification, owner.email)
    assert message["subject"].startswith("Welcome to BizOSaaS")
    assert "is ready" in message["text"] and "<strong>" in message["html"]
    inbox = eventually(
        lambda: api.get("/api/v1/notifications/inbox", headers=owner.auth).json()["items"] or None
    )
    assert inbox[0]["title"].startswith("Welcome to BizOSaaS") and inbox[0]["read_at"] is None


def test_an_invitation_email_carries_a_link_that_works(
    api: httpx.Client, owner: Account, notification: Service, user_service: str
) -> None:
    email = f"invitee-{uuid.uuid4().hex[:8]}@acme.io"
    invited = httpx.post(
        f"{user_service}/api/v1/users",
        json={"email": email, "full_name": "Ines Invitee", "role": "analyst"},
        headers=owner.auth,
    )
    assert invited.status_code == 201, invited.text
    (message,) = mail_to(notification, email)
    link = next(word for word in message["text"].split() if word.startswith("http"))
    token = link.rsplit("token=", 1)[-1] if "token=" in link else link.rstrip("/").rsplit("/", 1)[-1]
    accepted = httpx.post(
        f"{user_service}/api/v1/auth/accept-invite",
        json={"token": token, "password": "Invitee passphrase 42"},
    )
    assert accepted.status_code == 200, accepted.text


def _text_me(api: httpx.Client, owner: Account, phone: str, body: str) -> dict[str, Any]:
    saved = api.put(
        "/api/v1/notifications/preferences",
        json={
            "contact": {"phone": phone},
            "choices": [{"category": "campaign", "channel": "sms", "enabled": True}],
        },
        headers=owner.auth,
    )
    assert saved.status_code == 200, saved.text
    message = {
        "category": "campaign",
        "user_id": owner.user_id,
        "subject": "Hi",
        "body": body,
        "channels": ["sms"],
    }
    return send(api, owner, message)


def _texts(fake_url: str, phone: str) -> list[str]:
    state = httpx.get(f"{fake_url}/_fake/state").json()
    return [m["body"] for m in state["messages"] if m["to"] == phone]


def test_sms_reaches_the_provider_and_its_signed_callback_marks_it_delivered(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    sent = _text_me(api, owner, "+14155550123", "Budget moved")
    done = settled(api, owner, sent["notification_id"], "sms", "delivered")
    assert done["provider"] == "twilio:0"
    assert _texts(notification.channels.twilio.url, "+14155550123")[-1] == "Hi: Budget moved"


def test_an_sms_provider_outage_fails_over_to_the_second_account(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    """The backup account takes the text, and its own signed callback (another auth token)
    marks it delivered."""
    primary, backup = notification.channels.twilio.url, notification.channels.twilio_backup.url
    httpx.post(f"{primary}/_fake/fail", json={"path_prefix": "/2010-04-01/", "status": 503, "count": 1})
    phone = "+14155550188"
    sent = _text_me(api, owner, phone, "Pacing alert")
    done = settled(api, owner, sent["notification_id"], "sms", "delivered")
    assert done["provider"] == "twilio:1"
    assert (_texts(primary, phone), _texts(backup, phone)) == ([], ["Hi: Pacing alert"])


def test_a_forged_status_callback_is_refused(api: httpx.Client, notification: Service) -> None:
    answer = api.post(
        "/api/v1/notifications/callbacks/twilio/" + "A" * 40 + ".BBBBBBBBBBBBBBBBBBBBBB",
        data={"MessageStatus": "delivered"},
        headers={"X-Twilio-Signature": "c2lnbmF0dXJl"},
    )
    assert_problem(answer, 400)


def test_temporary_failures_retry_to_the_dead_state_and_a_redrive_sends_it(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    address = f"flaky-{uuid.uuid4().hex[:8]}@acme.io"
    catcher = notification.channels.mail.http_url
    httpx.post(
        f"{catcher}/_fake/reject",
        json={"pattern": address, "stage": "rcpt", "code": 451, "temporary": True, "count": 100},
    )
    sent = send(api, owner, {"category": "campaign", "to": [address], "subject": "S", "body": "B"})
    dead = settled(api, owner, sent["notification_id"], "email", "dead")
    assert dead["attempts"] == 8 and "451" in dead["last_error"]
    listed = api.get("/api/v1/notifications/dead", headers=owner.auth).json()["items"]
    assert dead["id"] in [d["id"] for d in listed]
    httpx.delete(f"{catcher}/_fake/reject")
    redriven = api.post(f"/api/v1/notifications/deliveries/{dead['id']}/redrive", headers=owner.auth)
    assert redriven.status_code == 200, redriven.text
    assert settled(api, owner, sent["notification_id"], "email", "sent")["attempts"] == 1
    assert len(mail_to(notification, address)) == 1
    attempts = api.get(f"/api/v1/notifications/{sent['notification_id']}", headers=owner.auth).json()[
        "attempts"
    ]
    assert [a["outcome"] for a in attempts] == ["retry"] * 7 + ["failed", "sent"]


def test_a_refused_address_bounces_at_once(api: httpx.Client, owner: Account, notification: Service) -> None:
    address = f"gone-{uuid.uuid4().hex[:8]}@acme.io"
    httpx.post(
        f"{notification.channels.mail.http_url}/_fake/reject",
        json={"pattern": address, "stage": "rcpt", "code": 550},
    )
    sent = send(api, owner, {"category": "campaign", "to": [address], "subject": "S", "body": "B"})
    bounced = settled(api, owner, sent["notification_id"], "email", "bounced")
    assert bounced["attempts"] == 1


def test_an_idempotency_key_repeat_answers_the_first_answer_and_sends_nothing(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    address = f"once-{uuid.uuid4().hex[:8]}@acme.io"
    body = {"category": "campaign", "to": [address], "subject": "Once", "body": "only once"}
    first, again = send(api, owner, body, key="k-1"), send(api, owner, body, key="k-1")
    assert first == again
    settled(api, owner, first["notification_id"], "email", "sent")
    assert len(mail_to(notification, address)) == 1


def test_quiet_hours_delay_what_is_not_critical(api: httpx.Client, owner: Account) -> None:
    zone = ZoneInfo("Europe/Paris")
    now = datetime.now(zone)
    start, end = (
        (now - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0),
    )
    assert start < end or now.hour in (0, 1, 22, 23)
    saved = api.put(
        "/api/v1/notifications/preferences",
        json={
            "contact": {
                "timezone": "Europe/Paris",
                "quiet_start": start.isoformat(),
                "quiet_end": end.isoformat(),
            }
        },
        headers=owner.auth,
    )
    assert saved.status_code == 200, saved.text
    calm = send(
        api, owner, {"category": "campaign", "user_id": owner.user_id, "subject": "Later", "body": "b"}
    )
    urgent = send(
        api, owner, {"category": "security", "user_id": owner.user_id, "subject": "Now", "body": "b"}
    )
    email = next(d for d in calm["deliveries"] if d["channel"] == "email")
    scheduled = datetime.fromisoformat(email["scheduled_for"]).astimezone(zone)
    assert scheduled.time().replace(second=0, microsecond=0) == time(end.hour, end.minute)
    assert scheduled > datetime.now(UTC)
    settled(api, owner, urgent["notification_id"], "email", "sent")
    assert delivery(api, owner, calm["notification_id"], "email")["status"] == "queued"


def test_critical_categories_cannot_be_turned_off(api: httpx.Client, owner: Account) -> None:
    refused = api.put(
        "/api/v1/notifications/preferences",
        json={"choices": [{"category": "security", "channel": "email", "enabled": False}]},
        headers=owner.auth,
    )
    assert_problem(refused, 422, "critical-category")


def test_campaign_management_sends_with_its_service_token(
    api: httpx.Client, owner: Account, notification: Service, stack: Stack, user_service: str
) -> None:
    headers = {
        **service_headers(user_service, stack, "campaign_management", owner.tenant_id),
        "Idempotency-Key": str(uuid.uuid4()),
    }
    body = {
        "user_id": owner.user_id,
        "category": "execution",
        "subject": "Google Ads failed",
        "body": "needs reauth",
        "data": {"campaign_id": str(uuid.uuid4())},
    }
    first = api.post("/api/v1/notifications", json=body, headers=headers)
    again = api.post("/api/v1/notifications", json=body, headers=headers)
    assert first.status_code == 202 and first.json() == again.json()
    messages = mail_to(notification, owner.email, count=2)  # the welcome, then this one
    assert any(m["subject"] == "Google Ads failed" for m in messages)

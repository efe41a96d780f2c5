"""The inbox and its live stream through the gateway (within a second, resuming with
Last-Event-ID), web push to the user's browsers, and what comes back: opens, clicks, one-click
unsubscribe, forged links refused."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.notification.conftest import Service
from tests.notification.test_flows import mail_to, send, settled
from tests.support.kit import Account, assert_problem, eventually


class StreamReader:
    """Reads `notification` events from the SSE stream in a thread, noting when each arrived."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: list[tuple[float, str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._follow(url, headers)
        except httpx.HTTPError:
            if not self._stop:
                raise

    def _follow(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=60)) as response:
            assert response.status_code == 200, response.read()
            event_id, data = "", ""
            for line in response.iter_lines():
                self.ready.set()
                if self._stop:
                    return
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    self.events.append((time.monotonic(), event_id, json.loads(data)))
                    event_id, data = "", ""

    def close(self) -> None:
        self._stop = True


def test_an_in_app_message_reaches_the_stream_through_the_gateway_and_a_reconnect_resumes(
    owner: Account, notification: Service, api: httpx.Client
) -> None:
    stream_url = f"{notification.gateway}/api/v1/notifications/stream"
    reader = StreamReader(stream_url, owner.auth)
    sent_at = time.monotonic()
    send(
        api,
        owner,
        {
            "category": "campaign",
            "user_id": owner.user_id,
            "subject": "Live",
            "body": "now",
            "channels": ["in_app"],
        },
    )
    arrived, first_id, _ = eventually(
        lambda: next((e for e in reader.events if e[2]["title"] == "Live"), None), timeout=10
    )
    reader.close()
    print(f"in-app message on the stream after {arrived - sent_at:.3f}s")
    send(
        api,
        owner,
        {
            "category": "campaign",
            "user_id": owner.user_id,
            "subject": "Missed",
            "body": "offline",
            "channels": ["in_app"],
        },
    )
    resumed = StreamReader(stream_url, {**owner.auth, "Last-Event-ID": first_id})
    _, _, missed = eventually(lambda: next((e for e in resumed.events), None), timeout=10)
    resumed.close()
    assert missed["title"] == "Missed"


def test_inbox_pages_unread_read_and_archive(api: httpx.Client, owner: Account) -> None:
    eventually(
        lambda: api.get("/api/v1/notifications/inbox", headers=owner.auth).json()["items"] or None
    )  # welcome
    for n in range(3):
        send(
            api,
            owner,
            {
                "category": "campaign",
                "user_id": owner.user_id,
                "subject": f"m{n}",
                "body": "b",
                "channels": ["in_app"],
            },
        )
    page = api.get("/api/v1/notifications/inbox", params={"limit": 2}, headers=owner.auth).json()
    assert [i["title"] for i in page["items"]] == ["m2", "m1"] and page["unread"] >= 3
    rest = api.get(
        "/api/v1/notifications/inbox", params={"limit": 2, "cursor": page["next_cursor"]}, headers=owner.auth
    ).json()
    assert rest["items"][0]["title"] == "m0"  # then the welcome
    newest = page["items"][0]["id"]
    assert api.post(f"/api/v1/notifications/inbox/{newest}/read", headers=owner.auth).json() == {"changed": 1}
    assert api.post(f"/api/v1/notifications/inbox/{newest}/archive", headers=owner.auth).json() == {
        "changed": 1
    }
    unread = api.get("/api/v1/notifications/inbox", params={"state": "unread"}, headers=owner.auth).json()
    assert newest not in [i["id"] for i in unread["items"]]
    archived = api.get("/api/v1/notifications/inbox", params={"state": "archived"}, headers=owner.auth).json()
    assert [i["id"] for i in archived["items"]] == [newest]
    assert api.post("/api/v1/notifications/inbox/read-all", headers=owner.auth).json()["changed"] >= 2
    assert api.get("/api/v1/notifications/inbox", headers=owner.auth).json()["unread"] == 0
    assert_problem(api.post(f"/api/v1/notifications/inbox/{uuid.uuid4()}/read", headers=owner.auth), 404)


def test_web_push_reaches_each_browser_and_a_gone_subscription_is_forgotten(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    push = notification.channels.push.url
    key = api.get("/api/v1/notifications/push/key", headers=owner.auth).json()["application_server_key"]
    browser = httpx.post(f"{push}/_fake/subscriptions", json={"application_server_key": key}).json()
    assert (
        api.post("/api/v1/notifications/push/subscriptions", json=browser, headers=owner.auth).status_code
        == 201
    )
    api.put(
        "/api/v1/notifications/preferences",
        json={"choices": [{"category": "campaign", "channel": "push", "enabled": True}]},
        headers=owner.auth,
    )
    sent = send(
        api,
        owner,
        {
            "category": "campaign",
            "user_id": owner.user_id,
            "subject": "Pushed",
            "body": "to you",
            "channels": ["push"],
        },
    )
    settled(api, owner, sent["notification_id"], "push", "sent")
    subscription_id = browser["endpoint"].rsplit("/", 1)[-1]
    received = httpx.get(f"{push}/_fake/subscriptions/{subscription_id}/messages").json()
    payloads = [json.loads(m["plaintext"]) for m in received if m["plaintext"]]
    assert [(p["title"], p["body"]) for p in payloads] == [("Pushed", "to you")]
    httpx.post(f"{push}/_fake/subscriptions/{subscription_id}/expire")
    gone = send(
        api,
        owner,
        {
            "category": "campaign",
            "user_id": owner.user_id,
            "subject": "Again",
            "body": "b",
            "channels": ["push"],
        },
    )
    assert settled(api, owner, gone["notification_id"], "push", "bounced")["attempts"] == 1
    assert api.get("/api/v1/notifications/push/subscriptions", headers=owner.auth).json() == []


def test_opens_clicks_and_one_click_unsubscribe(
    api: httpx.Client, owner: Account, notification: Service
) -> None:
    api.put(
        "/api/v1/notifications/templates",
        json={
            "key": "newsletter",
            "parts": {
                "subject": "News",
                "text": "see https://acme.io/offer",
                "html": '<a href="https://acme.io/offer">offer</a>',
            },
        },
        headers=owner.auth,
    )
    campaign = send(
        api,
        owner,
        {"category": "campaign", "user_id": owner.user_id, "template": "newsletter", "channels": ["email"]},
    )
    settled(api, owner, campaign["notification_id"], "email", "sent")
    message = next(m for m in mail_to(notification, owner.email, count=2) if m["subject"] == "News")
    html = message["html"]
    click = re.search(r'href="([^"]+/t/click/[^"]+)"', html).group(1)
    pixel = re.search(r'src="([^"]+/t/open/[^"]+)"', html).group(1)
    assert httpx.get(pixel).headers["content-type"] == "image/gif"
    assert settled(api, owner, campaign["notification_id"], "email", "opened")["opened_at"]
    redirect = httpx.get(click, follow_redirects=False)
    assert (redirect.status_code, redirect.headers["location"]) == (302, "https://acme.io/offer")
    assert settled(api, owner, campaign["notification_id"], "email", "clicked")["clicked_at"]
    headers = {name: value.strip() for name, value in message["headers"]}
    unsubscribe = headers["List-Unsubscribe"].strip("<>")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert httpx.post(unsubscribe).status_code == 200
    prefs = api.get("/api/v1/notifications/preferences", headers=owner.auth).json()["categories"]
    campaign_row = next(c for c in prefs if c["category"] == "campaign")
    assert campaign_row["channels"]["email"] == {"enabled": False, "source": "user"}
    tampered = click[:-3] + ("AAA" if not click.endswith("AAA") else "BBB")
    assert_problem(httpx.get(tampered, follow_redirects=False), 400)


def test_digestible_messages_wait_together_for_the_window(api: httpx.Client, owner: Account) -> None:
    """kpi_alert is digestible: the first alert's email waits for the window's end, the next ones
    join it as items instead of making deliveries of their own (in-app messages go at once)."""
    first = send(
        api, owner, {"category": "kpi_alert", "user_id": owner.user_id, "subject": "CTR low", "body": "b"}
    )
    second = send(
        api, owner, {"category": "kpi_alert", "user_id": owner.user_id, "subject": "CPC high", "body": "b"}
    )
    emails = [d for d in first["deliveries"] if d["channel"] == "email"]
    assert len(emails) == 1 and emails[0]["status"] == "queued"
    assert [d["channel"] for d in second["deliveries"]] == ["in_app"]


async def test_a_digest_sent_at_its_window_end_lists_every_message(
    api: httpx.Client, owner: Account, notification: Service, owner_engine: AsyncEngine
) -> None:
    """The window's end is brought forward in the table (the clock, not the code, is what we
    cannot wait an hour for): the worker sends one email rendering both alerts as items."""
    first = _alert(api, owner, "CTR low on Brand")
    _alert(api, owner, "CPC high on Search")
    digest_id = next(d["id"] for d in first["deliveries"] if d["channel"] == "email")
    async with owner_engine.begin() as conn:
        moved = await conn.execute(
            text("update notifications.deliveries set next_attempt_at = now() where id = :id"),
            {"id": digest_id},
        )
        assert moved.rowcount == 1
    welcome, digest = sorted(
        mail_to(notification, owner.email, count=2), key=lambda m: "CTR low" in m["text"]
    )
    assert "CTR low on Brand" in digest["text"] and "CPC high on Search" in digest["text"]
    assert "CTR low" not in welcome["text"]
    assert settled(api, owner, first["notification_id"], "email", "sent", "delivered")["id"] == digest_id


def _alert(api: httpx.Client, owner: Account, subject: str) -> dict[str, Any]:
    body = {
        "category": "kpi_alert",
        "user_id": owner.user_id,
        "subject": subject,
        "body": "see the dashboard",
    }
    return send(api, owner, body)

"""Redis users per service (DESIGN §4): who may append to which event stream.

A consumer trusts an event only if it was read from its rightful producer's stream, so what
matters is that no service can append to another's stream. Redis 6.2 ACLs cannot say "read this
key but do not write it", so each service gets three users:

- `svc_<name>`: every non-dangerous command, but only on the service's own keys (`<name>:*`);
- `svc_<name>_publisher`: XADD only, only to `events.<name>` and `events.dead` (relay, dead letters);
- `svc_<name>_consumer`: only the commands a consumer group needs, on `events.*`, never XADD.

What this does not protect (README "Redis users"): a consumer user can read every stream and could
ack or claim messages of another service's group, so a compromised service can delay or hide
events from others; it cannot forge them.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events.catalog import DEAD_LETTER_STREAM
from shared.fleet import ServiceSpec

CONSUMER_COMMANDS = (
    "+ping",
    "+xreadgroup",
    "+xack",
    "+xautoclaim",
    "+xclaim",
    "+xpending",
    "+xrange",
    "+xgroup|create",
    "+xinfo",
)


@dataclass(frozen=True)
class RedisUser:
    name: str
    rules: tuple[str, ...]
    url_setting: str
    """The service setting that carries this user's URL."""


def users_of(spec: ServiceSpec) -> tuple[RedisUser, ...]:
    base = f"svc_{spec.name}"
    prefix = spec.redis_prefix
    return (
        RedisUser(base, (f"~{prefix}*", "resetchannels", f"&{prefix}*", "+@all", "-@dangerous"), "REDIS_URL"),
        RedisUser(
            f"{base}_publisher",
            (f"~{spec.stream}", f"~{DEAD_LETTER_STREAM}", "resetchannels", "+ping", "+xadd"),
            "EVENTS_PUBLISHER_REDIS_URL",
        ),
        RedisUser(
            f"{base}_consumer",
            ("~events.*", "resetchannels", *CONSUMER_COMMANDS),
            "EVENTS_CONSUMER_REDIS_URL",
        ),
    )


def setuser_command(user: RedisUser, password: str) -> list[str]:
    """`ACL SETUSER` arguments that (re)define the user from scratch."""
    return ["ACL", "SETUSER", user.name, "reset", "on", f">{password}", *user.rules]

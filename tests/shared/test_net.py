"""The caller's address behind proxies (shared.net): one rule for the gateway and user_management."""

from __future__ import annotations

from shared.net import client_address

LOOPBACK = ["127.0.0.1", "::1"]


def test_an_untrusted_peer_is_the_caller_whatever_it_claims() -> None:
    assert client_address("203.0.113.9", ["198.51.100.1"], LOOPBACK) == "203.0.113.9"
    assert client_address("203.0.113.9", [], []) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_last_hop_it_saw_is_the_caller() -> None:
    assert client_address("127.0.0.1", ["198.51.100.1, 203.0.113.9"], LOOPBACK) == "203.0.113.9"


def test_a_second_header_line_cannot_choose_the_address() -> None:
    """Reading only the first (or only the last) line would let a client pick its own key."""
    lines = ["198.51.100.66", "203.0.113.9"]
    assert client_address("127.0.0.1", lines, LOOPBACK) == "203.0.113.9"
    assert client_address("127.0.0.1", ["203.0.113.9", "198.51.100.66"], LOOPBACK) == "198.51.100.66"


def test_trusted_hops_are_walked_past_right_to_left() -> None:
    """A load balancer in 10.0.0.0/8 in front of the gateway: both are skipped, the client is found."""
    chain = ["198.51.100.66, 203.0.113.9, 10.1.2.3"]
    assert client_address("127.0.0.1", chain, [*LOOPBACK, "10.0.0.0/8"]) == "203.0.113.9"


def test_when_every_hop_is_trusted_the_leftmost_is_the_best_known() -> None:
    assert client_address("127.0.0.1", ["10.0.0.1, 10.0.0.2"], [*LOOPBACK, "10.0.0.0/8"]) == "10.0.0.1"
    assert client_address("127.0.0.1", [], LOOPBACK) == "127.0.0.1"


def test_garbage_in_the_header_is_never_trusted() -> None:
    assert client_address("127.0.0.1", ["not-an-ip"], LOOPBACK) == "not-an-ip"
    assert client_address("127.0.0.1", [" , ,"], LOOPBACK) == "127.0.0.1"

"""No secret in the repository: every file git tracks (`git ls-files`, staged files included) is
scanned for private keys, live API keys and tokens in their known formats, and, in .env-like and
YAML files, for random-looking values given to secret-named settings or embedded in URLs.

Deliberately fake credentials pass when the value says so (FAKE_MARKERS: the fakes' `sk_test_fake_...`,
.env.example's `change-me`); a file that must hold a fixed fake key no marker can show goes in
ALLOWED_FILES with the reason. Findings name the file, line and kind, never the value.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_MARKERS = ("fake", "test", "example", "change-me", "changeme")
ALLOWED_FILES: dict[str, str] = {
    # "tests/fixtures/some.pem": "why a fixed fake key is needed here",
}

KNOWN_FORMATS = {
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "Stripe live key": re.compile(r"\b[rs]k_live_[0-9A-Za-z]{10,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"https://hooks\.slack\.com/services/T\w+/B\w+/\w+"),
    "GitHub token": re.compile(r"\b(?:gh[opsru]_[0-9A-Za-z]{36,}|github_pat_\w{22,})"),
    "signed JWT": re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}"),
}

# .env, .env.production, stack.env; any YAML (compose files, k8s manifests, CI, monitoring).
SETTINGS_FILE = re.compile(r"(?:^|/)(?:\.env(?:\.[\w.-]+)?|[\w.-]+\.env|[\w.-]+\.ya?ml)$")
_ASSIGNMENT = re.compile(
    r"""^\s*(?:-\s+)?(?:export\s+)?["']?(?P<key>[A-Za-z_][\w.-]*)["']?\s*[:=][ \t]*(?P<value>.*)$"""
)
_SECRET_NAME = re.compile(r"(?i)(?:secret|password|passwd|key|token)s?$")
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<password>[^\s@/]+)@")


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}"


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    return -sum(n / len(text) * math.log2(n / len(text)) for n in Counter(text).values())


def _says_fake(value: str) -> bool:
    texts = [value.lower()]
    with contextlib.suppress(binascii.Error, UnicodeDecodeError, ValueError):  # not base64 text
        texts.append(base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode().lower())
    return any(marker in text for text in texts for marker in FAKE_MARKERS)


def looks_random(value: str) -> bool:
    """Long, no spaces, not a reference ($VAR, {{ }}, <placeholder>) or path, two or more of
    lower case / upper case / digits, and dense: what a generated secret looks like."""
    if len(value) < 16 or re.search(r"\s|\$|\{\{|://", value) or value.startswith(("/", "./", "<")):
        return False
    classes = sum(bool(re.search(chars, value)) for chars in ("[a-z]", "[A-Z]", "[0-9]"))
    return classes >= 2 and _entropy(value) >= 3.5


def _unquote(value: str) -> str:
    value = value.strip()
    if value[:1] in {'"', "'"}:
        return value[1 : value.find(value[0], 1)] if value.find(value[0], 1) > 0 else value[1:]
    return re.split(r"\s+#", value, maxsplit=1)[0].strip()


def scan_text(path: str, text: str) -> list[Finding]:
    findings = []
    settings = SETTINGS_FILE.search(path) is not None
    named = None  # k8s env entries: `- name: X_TOKEN` then `value: ...`
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in KNOWN_FORMATS.items():
            if any(not _says_fake(match.group()) for match in pattern.finditer(line)):
                findings.append(Finding(path, number, kind))
        if not settings:
            continue
        for match in _URL_PASSWORD.finditer(line):
            password = match.group("password")
            if looks_random(password) and not _says_fake(password):
                findings.append(Finding(path, number, "password in a URL"))
        assignment = _ASSIGNMENT.match(line)
        if assignment is None:
            continue
        key, value = assignment.group("key"), _unquote(assignment.group("value"))
        if key == "value" and named:
            key = named
        named = value if key == "name" else None
        if _SECRET_NAME.search(key) and looks_random(value) and not _says_fake(value):
            findings.append(Finding(path, number, f"random value for {key}"))
    return findings


def scan_file(root: Path, relative: str) -> list[Finding]:
    path = root / relative
    if not path.is_file():  # deleted in the work tree, still in the index
        return []
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return []
    return scan_text(relative, data.decode("utf-8", errors="replace"))


def repository_files(root: Path) -> list[str]:
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True, timeout=60
    )
    return sorted(name for name in listing.stdout.decode().split("\0") if name)


def scan_repository(root: Path) -> list[Finding]:
    return [
        finding
        for relative in repository_files(root)
        if relative not in ALLOWED_FILES
        for finding in scan_file(root, relative)
    ]


def test_no_tracked_file_holds_a_secret() -> None:
    findings = scan_repository(REPO)
    assert not findings, "secret-looking values (move them out, or mark them fake):\n" + "\n".join(
        map(str, findings)
    )


def test_the_allow_list_names_files_that_exist() -> None:
    tracked = set(repository_files(REPO))
    assert [path for path in ALLOWED_FILES if path not in tracked] == []


# --- The scan's own checks: planted secrets are found, fakes and references are not ------------

# Built at run time so that this file holds none of them.
RANDOM = "q7Vx2LmR9tKp4WzN8bYcHd3F"
PLANTED_FORMATS = {
    "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
    "Stripe live key": "sk_" + "live_" + RANDOM,
    "AWS access key id": "AKIA" + "Q3X7ZP2M8KD4RW6N",
    "Slack token": "xoxb" + "-1234567890-" + RANDOM,
    "GitHub token": "ghp" + "_" + RANDOM + "abcdefghijkl",
    "signed JWT": "eyJ" + "hbGciOiJSUzI1NiJ9.eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0." + RANDOM,
}


def test_the_scan_finds_every_known_format_anywhere() -> None:
    text = "".join(f"leaked = {value!r}\n" for value in PLANTED_FORMATS.values())
    found = scan_text("notes/leak.py", text)
    assert found == [Finding("notes/leak.py", n, kind) for n, kind in enumerate(PLANTED_FORMATS, start=1)]
    assert scan_text("fakes/stripe.py", 'KEY = "sk_' + 'live_fake_not_a_real_key"\n') == []


def test_the_scan_finds_random_values_of_secret_settings(tmp_path: Path) -> None:
    encoded = base64.b64encode(RANDOM.encode()).decode()
    fake_encoded = base64.b64encode(b"change-me-in-production").decode()
    planted = {
        "stack.env": [
            ("NOTIFICATION_LINK_SECRET=" + RANDOM, "random value for NOTIFICATION_LINK_SECRET"),
            ("export SMTP_PASSWORD='" + RANDOM + "'  # from the vault", "random value for SMTP_PASSWORD"),
            ("DATABASE_URL=postgresql://svc_users:" + RANDOM + "@db:5432/bizosaas", "password in a URL"),
            ("STRIPE_API_KEY=sk_test_fake_bizosaas_0123456789", None),
            ("SMTP_PASSWORD=change-me", None),
            ("REDIS_URL=redis://svc_analytics:change-me@127.0.0.1:6379/0", None),
            ("JWT_PRIVATE_KEY_FILE=/run/secrets/jwt-signing.pem", None),
            ("LOG_LEVEL=INFO", None),
        ],
        "deploy/k8s/secret.yaml": [
            ("data:", None),
            ("  GATEWAY_OPERATOR_TOKEN: " + encoded, "random value for GATEWAY_OPERATOR_TOKEN"),
            ("  SMTP_PASSWORD: " + fake_encoded, None),
            ("env:", None),
            ("  - name: INTEGRATION_MASTER_KEYS", None),
            ('    value: "' + RANDOM + '"', "random value for INTEGRATION_MASTER_KEYS"),
            ("  - name: API_GATEWAY_CLIENT_SECRET", None),
            ("    valueFrom: {secretKeyRef: {name: fleet, key: API_GATEWAY_CLIENT_SECRET}}", None),
            ("  - name: LOG_LEVEL", None),
            ('    value: "' + RANDOM + '"', None),
            ("password: ${POSTGRES_PASSWORD}", None),
            ("apiKey: " + RANDOM, "random value for apiKey"),
            ("key: gateway-operator-token", None),
        ],
        "docs/settings.md": [("SMTP_PASSWORD=" + RANDOM, None)],  # prose: known formats only
    }
    expected = []
    for relative, lines in planted.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("".join(line + "\n" for line, _ in lines))
        expected += [Finding(relative, n, kind) for n, (_, kind) in enumerate(lines, start=1) if kind]
    found = [finding for relative in planted for finding in scan_file(tmp_path, relative)]
    assert sorted(found) == sorted(expected)


def test_the_scan_reads_what_git_tracks(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    (tmp_path / "compose.yml").write_text("environment:\n  GATEWAY_OPERATOR_TOKEN: " + RANDOM + "\n")
    (tmp_path / "scratch.env").write_text("OTHER_SECRET=" + RANDOM + "\n")  # not added: not scanned
    (tmp_path / "key.pem").write_text(PLANTED_FORMATS["private key"] + "\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "compose.yml", "key.pem"], check=True, timeout=60)
    assert scan_repository(tmp_path) == [
        Finding("compose.yml", 2, "random value for GATEWAY_OPERATOR_TOKEN"),
        Finding("key.pem", 1, "private key"),
    ]

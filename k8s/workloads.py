"""Deployments, the migrate Job, ConfigMaps and Secret templates, built from derive.py."""

from __future__ import annotations

from typing import Any

from k8s.derive import (
    NAMESPACE,
    POSTGRES_URL,
    SIGNING_KEY_DIR,
    SIGNING_KEY_FILE,
    ServiceEnv,
    common_config,
    description,
    k8s_name,
    migrate_secrets,
)
from k8s.yamltext import Comment, note
from shared.fleet import SERVICES, ServiceSpec

PART_OF = "bizosaas"
REGISTRY = "ghcr.io/bizosaas"
MIGRATE = "migrate"
MIGRATE_NAME = "bizosaas-migrate"
COMMON_CONFIG = "bizosaas-common"
SIGNING_SECRET = "user-management-signing-key"
UID = 10001

# Base sizes (production-like); the dev overlay shrinks them, prod grows the hot path.
DEFAULT_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
RESOURCES = {
    "api_gateway": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "2", "memory": "512Mi"},
    },
    # Argon2id takes ARGON2_MEMORY_KIB (64 MiB) per concurrent hash
    "user_management": {
        "requests": {"cpu": "250m", "memory": "384Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    },
    # reports (openpyxl, reportlab) are built in the process
    "analytics": {"requests": {"cpu": "200m", "memory": "384Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    # CrewAI is imported when a crew first runs (~200 MB more); crawls hold pages in memory
    "ai_agents": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1536Mi"}},
}
MIGRATE_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


def image(name: str) -> str:
    """Named like the Dockerfile's targets (`api-gateway`, `migrate`); untagged: every overlay
    sets the tag (kustomize `images`)."""
    return f"{REGISTRY}/{k8s_name(name)}"


def uvicorn(service: ServiceSpec) -> list[str]:
    """The image's own CMD (deploy/generate_compose.py): the app on its port, no access log (the
    app logs requests as JSON), no proxy headers (the app reads X-Forwarded-For itself, past
    TRUSTED_PROXIES), a shutdown that fits in the grace period after preStop."""
    return [
        "uvicorn",
        service.app_path,
        "--host",
        "0.0.0.0",
        "--port",
        str(service.port),
        "--no-access-log",
        "--no-proxy-headers",
        "--timeout-graceful-shutdown",
        "20",
    ]


def selector(name: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PART_OF}


def labels(name: str, component: str = "service") -> dict[str, str]:
    return {**selector(name), "app.kubernetes.io/component": component}


def meta(name: str, component: str = "service", app: str | None = None, **extra: Any) -> dict[str, Any]:
    """`app`: the service the object belongs to, when its name is not the service's own."""
    return {"name": name, "namespace": NAMESPACE, "labels": labels(app or name, component), **extra}


def secret_name(service: str) -> str:
    return f"{k8s_name(service)}-secrets"


def config_name(service: str) -> str:
    return f"{k8s_name(service)}-config"


def _wrap(names: tuple[str, ...], width: int = 96) -> str:
    lines, line = [], ""
    for name in names:
        if line and len(line) + len(name) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {name}" if line else name
    return "\n".join([*lines, line])


# --- pods ---------------------------------------------------------------------------------------


def pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def secret_ref(secret: str, key: str, optional: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": secret, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": key, "valueFrom": {"secretKeyRef": ref}}


def _with_note(text: str, item: dict[str, Any]) -> dict[str, Any]:
    return {note(text): None, **item}


def process_env() -> list[dict[str, Any]]:
    return [
        _with_note(
            "the root filesystem is read-only: caches (and CrewAI's storage) go to /tmp",
            {"name": "HOME", "value": "/tmp"},
        ),
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]


def env_list(env: ServiceEnv) -> list[dict[str, Any]]:
    """HOME and PYTHONUNBUFFERED, then only this service's own secret keys."""
    refs = [secret_ref(secret_name(env.name), key) for key in env.secrets]
    refs[0] = _with_note(f"its own secrets only ({secret_name(env.name)})", refs[0])
    optional = [secret_ref(secret_name(env.name), key, optional=True) for key in env.optional_secrets]
    if optional:
        optional[0] = _with_note(
            "provider credentials: empty or absent = not used (the entrypoint drops empty values)",
            optional[0],
        )
    return [*process_env(), *refs, *optional]


def http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, **timing}


def tmp_volume() -> dict[str, Any]:
    return {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}


def deployment(service: ServiceSpec, env: ServiceEnv) -> dict[str, Any]:
    name = k8s_name(service.name)
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [tmp_volume()]
    if service.name == "user_management":
        mounts.append({"name": "signing-key", "mountPath": SIGNING_KEY_DIR, "readOnly": True})
        volumes.append(
            _with_note(
                "the token signing key: only this service holds it (JWT_PRIVATE_KEY_FILE)",
                {"name": "signing-key", "secret": {"secretName": SIGNING_SECRET, "defaultMode": 0o440}},
            )
        )
    container = {
        "name": name,
        "image": image(service.name),
        note("args, not command: the image's entrypoint runs first (it drops empty settings)"): None,
        "args": uvicorn(service),
        "ports": [{"name": "http", "containerPort": service.port, "protocol": "TCP"}],
        "envFrom": [
            {"configMapRef": {"name": COMMON_CONFIG}},
            {"configMapRef": {"name": config_name(service.name)}},
        ],
        "env": env_list(env),
        note("/health: the process is alive; /ready: its database, Redis and migrations at head"): None,
        "startupProbe": http_probe("/health", periodSeconds=2, timeoutSeconds=3, failureThreshold=30),
        "livenessProbe": http_probe("/health", periodSeconds=10, timeoutSeconds=3, failureThreshold=3),
        "readinessProbe": http_probe("/ready", periodSeconds=5, timeoutSeconds=3, failureThreshold=2),
        note("endpoints drop the pod before uvicorn stops accepting"): None,
        "lifecycle": {"preStop": {"exec": {"command": ["python", "-c", "import time; time.sleep(5)"]}}},
        "resources": RESOURCES.get(service.name, DEFAULT_RESOURCES),
        "securityContext": container_security(),
        "volumeMounts": mounts,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": {
                    note("no API token, no service-link variables: the process gets only its settings"): None,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security(),
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector(name)},
                        }
                    ],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }


def migrate_job() -> dict[str, Any]:
    """`python -m shared.migrations`: the only holder of the owner DATABASE_URL; it reads each
    runtime role's password from that service's own Secret."""
    owner, *roles = migrate_secrets()
    service_of = {s.database_url_env: s.name for s in SERVICES if s.schema}
    role_refs = [secret_ref(secret_name(service_of[key]), key) for key in roles]
    role_refs[0] = _with_note(
        "each runtime role's URL: the step sets the role's password from it", role_refs[0]
    )
    env = [
        *process_env(),
        _with_note("the owner role: nowhere else", secret_ref(MIGRATE_NAME, owner)),
        *role_refs,
    ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(
            MIGRATE_NAME,
            MIGRATE,
            annotations={
                # Argo CD runs it before every sync; elsewhere: delete the finished Job, then apply
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation",
            },
        ),
        "spec": {
            "backoffLimit": 4,
            "activeDeadlineSeconds": 900,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels(MIGRATE_NAME, MIGRATE)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security(),
                    "containers": [
                        {
                            "name": MIGRATE,
                            "image": image(MIGRATE),
                            "args": ["python", "-m", "shared.migrations", "upgrade"],
                            "env": env,
                            "resources": MIGRATE_RESOURCES,
                            "securityContext": container_security(),
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        }
                    ],
                    "volumes": [tmp_volume()],
                },
            },
        },
    }


# --- configuration ------------------------------------------------------------------------------


def config_map(env: ServiceEnv) -> dict[str, Any]:
    peers = [key for key in env.config if key in {s.url_env for s in SERVICES}]
    data: dict[Any, Any] = {}
    if peers:
        data[note("the peers it calls (shared/fleet.py), by Service name")] = None
        data.update({key: env.config[key] for key in peers})
    for key, value in env.config.items():
        if key not in peers:
            if value.startswith("https://"):
                data[note("where browsers reach the gateway (overlays set the host)")] = None
            data[key] = value
    head = f"{k8s_name(env.name)}'s own plain settings (with {COMMON_CONFIG})."
    if env.optional_config:
        head += " Optional ones, defaults in .env.example:\n" + _wrap(env.optional_config)
    return {
        note(head): None,
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(config_name(env.name), "config", k8s_name(env.name)),
        "data": data,
    }


def common_config_map() -> dict[str, Any]:
    data: dict[Any, Any] = {}
    for key, value in common_config().items():
        if key == "TRUSTED_PROXIES":
            data[
                note(
                    "placeholder, the pod network: the gateway believes X-Forwarded-For from the ingress\n"
                    "controller, the services from the gateway (per-IP rate limits need it right)"
                )
            ] = None
        data[key] = value
    return {
        note("Settings every service reads, with one value for all (shared.config.ServiceSettings)."): None,
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(COMMON_CONFIG, "config"),
        "data": data,
    }


def _secret(name: str, app: str, keys: dict[str, str], head: str) -> dict[str, Any]:
    data: dict[Any, Any] = {}
    for key, shape in keys.items():
        if shape:
            data[Comment(shape)] = None
        data[key] = ""
    return {
        note(head): None,
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta(name, "secret", app),
        "type": "Opaque",
        "stringData": data,
    }


def service_secret(env: ServiceEnv) -> dict[str, Any]:
    head = f"TEMPLATE, values empty: {k8s_name(env.name)}'s secrets, referenced key by key by its Deployment."
    keys = dict(env.secrets)
    for n, key in enumerate(env.optional_secrets):
        about = description(env.name, key)
        lead = "optional (provider credentials): empty or absent = not used" if n == 0 else ""
        keys[key] = "\n".join(part for part in (lead, about) if part)
    return _secret(secret_name(env.name), k8s_name(env.name), keys, head)


def signing_key_secret() -> dict[str, Any]:
    return _secret(
        SIGNING_SECRET,
        k8s_name("user_management"),
        {SIGNING_KEY_FILE: "PEM, RSA private key user_management signs access tokens with (RS256)"},
        "TEMPLATE, value empty: mounted only into user_management.\n"
        "Rotation: add the old public key as another file and list it in JWT_ADDITIONAL_PUBLIC_KEY_FILES.",
    )


def migrate_secret() -> dict[str, Any]:
    return _secret(
        MIGRATE_NAME,
        MIGRATE_NAME,
        {"DATABASE_URL": POSTGRES_URL},
        "TEMPLATE, value empty: the owner role, given only to the migrate Job.",
    )

"""Services, NetworkPolicies and the Ingress, built from the fleet spec and derive.py.

Who may reach whom is read from each service's settings: a service whose settings hold another's
address (a peer URL from `calls`, user_management for service tokens, the JWKS every service
fetches) may open connections to it, and nothing else in the namespace may.
"""

from __future__ import annotations

from typing import Any

from k8s.derive import PUBLIC_HOST, ServiceEnv, k8s_name
from k8s.workloads import MIGRATE_NAME, meta, selector
from k8s.yamltext import note
from services.api_gateway.routing import ROUTES
from services.api_gateway.settings import Settings as GatewaySettings
from shared.fleet import SERVICES, ServiceSpec, spec

INTERNET_EGRESS = ("integration", "notification", "ai_agents")
"""DESIGN §8: ad platforms, Stripe, SMTP/SMS/push providers, the LLM endpoint, audited sites."""
PRIVATE_RANGES = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",  # link-local, the cloud metadata service
    "127.0.0.0/8",
]
PRIVATE_RANGES_V6 = ["fc00::/7", "fe80::/10", "::1/128"]
INGRESS_NAMESPACE = "ingress-nginx"  # placeholder: where the ingress controller runs
MONITORING_NAMESPACE = "monitoring"  # placeholder: where Prometheus runs
POSTGRES_PORT = 5432
REDIS_PORT = 6379
TLS_SECRET = "bizosaas-tls"
CLUSTER_ISSUER = "letsencrypt-prod"  # placeholder: a cert-manager ClusterIssuer
GATEWAY = "api_gateway"


def service(spec_: ServiceSpec) -> dict[str, Any]:
    name = k8s_name(spec_.name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(name),
            "ports": [{"name": "http", "port": spec_.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _namespace(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port}]


def _fleet_pods(names: list[str]) -> list[dict[str, Any]]:
    return [{"podSelector": {"matchLabels": selector(k8s_name(n))}} for n in names]


def _datastore(app: str, port: int, text: str) -> dict[str, Any]:
    return {
        note(text): None,
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}}],
        "ports": _tcp(port),
    }


def postgres_egress() -> dict[str, Any]:
    return _datastore("postgresql", POSTGRES_PORT, "PostgreSQL (managed elsewhere: patch in an ipBlock)")


def redis_egress() -> dict[str, Any]:
    return _datastore("redis", REDIS_PORT, "Redis (managed elsewhere: patch in an ipBlock)")


def internet_egress() -> dict[str, Any]:
    return {
        note("the internet, not the private ranges (nor the cloud metadata address)"): None,
        "to": [
            {"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}},
            {"ipBlock": {"cidr": "::/0", "except": PRIVATE_RANGES_V6}},
        ],
    }


def prometheus_ingress(port: int) -> dict[str, Any]:
    return {
        note("Prometheus scrapes /metrics"): None,
        "from": [
            {
                "namespaceSelector": _namespace(MONITORING_NAMESPACE),
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            }
        ],
        "ports": _tcp(port),
    }


def network_policy(env: ServiceEnv, envs: dict[str, ServiceEnv]) -> dict[str, Any]:
    """Ingress from the services whose settings name it (and the ingress controller for the
    gateway, Prometheus for all); egress to what its own settings name, its database, Redis."""
    me = spec(env.name)
    name = k8s_name(me.name)
    callers = [s.name for s in SERVICES if me.name in envs[s.name].reaches]
    ingress: list[dict[str, Any]] = []
    if me.name == GATEWAY:
        ingress.append(
            {
                note("the ingress controller: the only way in from outside"): None,
                "from": [
                    {
                        "namespaceSelector": _namespace(INGRESS_NAMESPACE),
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
                    }
                ],
                "ports": _tcp(me.port),
            }
        )
    if callers:
        ingress.append(
            {
                note(
                    "the services whose settings hold its address:\n" + ", ".join(map(k8s_name, callers))
                ): None,
                "from": _fleet_pods(callers),
                "ports": _tcp(me.port),
            }
        )
    ingress.append(prometheus_ingress(me.port))
    egress: list[dict[str, Any]] = []
    for peer in env.reaches:
        egress.append({"to": _fleet_pods([peer]), "ports": _tcp(spec(peer).port)})
    if egress:
        egress[0] = {note("the peers its settings name (calls, service tokens, the JWKS)"): None, **egress[0]}
    if me.schema:
        egress.append(postgres_egress())
    egress.append(redis_egress())
    if me.name == "campaign_management":
        egress.append(
            {
                note("the platform's own Mautic when it runs in the cluster (MAUTIC_URL)"): None,
                "to": [
                    {
                        "namespaceSelector": {},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mautic"}},
                    }
                ],
            }
        )
    if me.name in INTERNET_EGRESS:
        egress.append(internet_egress())
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(name, "network-policy"),
        "spec": {
            "podSelector": {"matchLabels": selector(name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def namespace_policies() -> list[dict[str, Any]]:
    """Deny everything not allowed by a policy; every pod may ask the cluster DNS; the migrate
    Job may reach PostgreSQL only."""
    return [
        {
            note("Nothing in or out unless a policy below allows it."): None,
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("default-deny", "network-policy"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("allow-dns", "network-policy"),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": _namespace("kube-system"),
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta(MIGRATE_NAME, "network-policy"),
            "spec": {
                "podSelector": {"matchLabels": selector(MIGRATE_NAME)},
                "policyTypes": ["Ingress", "Egress"],
                "egress": [postgres_egress()],
            },
        },
    ]


def public_paths() -> list[tuple[str, str]]:
    """What the Ingress sends to the gateway: the proxied API, the JWKS, health and the docs.
    Not /ready, nor the operator endpoints (/metrics, /health/services)."""
    paths = [("/api/v1", "Prefix")]
    paths += [(prefix, "Exact") for prefix, _ in ROUTES if not prefix.startswith("/api/v1/")]
    paths += [("/health", "Exact"), ("/docs", "Exact"), ("/redoc", "Exact"), ("/openapi.json", "Exact")]
    return [*paths, ("/static/docs", "Prefix")]


def ingress() -> dict[str, Any]:
    body = GatewaySettings.model_fields["max_body_bytes"].default
    backend = {"service": {"name": k8s_name(GATEWAY), "port": {"name": "http"}}}
    return {
        note("Only the gateway is public. TLS from cert-manager; the host is a placeholder."): None,
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(
            "bizosaas",
            "ingress",
            annotations={
                "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
                # the gateway enforces GATEWAY_MAX_BODY_BYTES itself; the proxy must let it through
                "nginx.ingress.kubernetes.io/proxy-body-size": f"{body // (1024 * 1024)}m",
                # SSE (notifications/stream) and report downloads pass unbuffered, held open
                "nginx.ingress.kubernetes.io/proxy-buffering": "off",
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            },
        ),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [PUBLIC_HOST], "secretName": TLS_SECRET}],
            "rules": [
                {
                    "host": PUBLIC_HOST,
                    "http": {
                        "paths": [
                            {"path": path, "pathType": kind, "backend": backend}
                            for path, kind in public_paths()
                        ]
                    },
                }
            ],
        },
    }

"""The Kubernetes manifests (k8s/manifests) against the code they deploy.

No cluster and no kustomize binary: each overlay is built by k8s.kustomize (the subset of
kustomize the manifests use), core objects are checked against the bundled OpenAPI schemas of
kubernetes-validate (strict: unknown fields fail), ServiceMonitors structurally. Expectations come
from the code, computed here and not taken from the generator: the dev stack's
`service_environment` (what each process gets, which values are secrets), the settings classes
(what each process reads), shared/fleet.py (ports, app paths, schemas), shared/app.py (the
operational routes), shared/migrations.py (what the migrate step reads), the gateway's route table.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
from pydantic import SecretStr

from devstack.stackenv import StackAddresses, secret_names, service_environment, settings_class
from k8s import generate, kustomize
from services.api_gateway.middleware import OPERATOR_PATHS
from services.api_gateway.routing import ROUTES
from shared.app import _operational_routes
from shared.config import DatabaseServiceSettings, ServiceSettings, env_names
from shared.events.metrics import EVENTS_PENDING
from shared.fleet import REPO_ROOT, SERVICES, spec
from shared.migrations import runtime_passwords

MANIFESTS = REPO_ROOT / "k8s" / "manifests"
OVERLAYS = ("dev", "prod")
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())
"""The oldest Kubernetes these manifests claim (PodDisruptionBudget v1, HPA v2, ...) and the newest."""
INTERNET = {"integration", "notification", "ai_agents"}
"""DESIGN §8: providers, SMTP/SMS/push, the LLM, audited sites. Nobody else leaves the cluster."""
PROCESS_BASICS = {"HOME", "PYTHONUNBUFFERED"}
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
PASSWORDS_A = {name: f"a-{name}" for name in secret_names()}
PASSWORDS_B = {name: f"b-{name}" for name in secret_names()}
LOCAL = StackAddresses(
    "postgresql://o:p@db:5432/x", "redis://r:p@redis:6379/0", {s.name: s.port for s in SERVICES}
)

Obj = dict[str, Any]


# --- what the code says -------------------------------------------------------------------------


def dev_env(name: str, passwords: dict[str, str] = PASSWORDS_A) -> dict[str, str]:
    return service_environment(spec(name), LOCAL, passwords, signing_key=Path("/keys/signing.pem"))


def secret_settings(name: str) -> set[str]:
    """Settings whose value is a generated secret: they change with the passwords."""
    first, second = dev_env(name, PASSWORDS_A), dev_env(name, PASSWORDS_B)
    return {key for key in first if first[key] != second[key]}


def provider_secrets(name: str) -> set[str]:
    """The service's own `SecretStr` settings (its settings.py), not the shared ones."""
    cls = settings_class(name)
    base = DatabaseServiceSettings if issubclass(cls, DatabaseServiceSettings) else ServiceSettings
    return {
        str(info.validation_alias)
        for field, info in cls.model_fields.items()
        if field not in base.model_fields and SecretStr in (info.annotation, *get_args(info.annotation))
    }


def reaches(name: str) -> set[str]:
    """The services whose address is among this service's settings (ports are unique)."""
    by_port = {s.port: s.name for s in SERVICES}
    ports = {urlsplit(v).port for v in dev_env(name).values() if v.startswith("http://")}
    return {by_port[p] for p in ports if p in by_port}


def callers(name: str) -> set[str]:
    return {s.name for s in SERVICES if name in reaches(s.name)}


def operational_paths() -> set[str]:
    """/health, /ready, /metrics as the shared app factory serves them for every service."""
    return {str(route.path) for route in _operational_routes("any").routes if hasattr(route, "path")}


def migrate_reads() -> set[str]:
    seen: set[str] = set()

    class Recording(dict[str, str]):
        def get(self, key: str, default: Any = None) -> Any:
            seen.add(key)
            return default

    runtime_passwords(Recording())
    return {"DATABASE_URL", *seen}


# --- what the manifests say ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def built() -> dict[str, list[Obj]]:
    return {overlay: kustomize.build(MANIFESTS / "overlays" / overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return kustomize.build(MANIFESTS / "base")


@pytest.fixture(scope="module")
def templates() -> list[Obj]:
    return kustomize.build(MANIFESTS / "secret-templates")


def of_kind(objects: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workload_of(objects: list[Obj], service: str) -> Obj:
    """The Deployment whose container runs this service's app."""
    found = [d for d in of_kind(objects, "Deployment") if spec(service).app_path in container(d)["args"]]
    assert len(found) == 1, f"{service}: {len(found)} Deployments run {spec(service).app_path}"
    return found[0]


def pod(obj: Obj) -> Obj:
    pod_spec: Obj = obj["spec"]["template"]["spec"]
    return pod_spec


def container(obj: Obj) -> Obj:
    containers = pod(obj)["containers"]
    assert len(containers) == 1
    first: Obj = containers[0]
    return first


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o["kind"] in ("Deployment", "Job")]


def secret_refs(obj: Obj) -> Iterator[tuple[str, str, bool]]:
    """(secret, key, optional) of every secretKeyRef in a workload."""
    for item in container(obj).get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert item["name"] == ref["key"], "a secret key is exposed under its own name"
            yield ref["name"], ref["key"], bool(ref.get("optional"))


def config_env(objects: list[Obj], obj: Obj) -> dict[str, str]:
    """The plain settings a workload gets: its ConfigMaps and literal env values."""
    values: dict[str, str] = {}
    for source in container(obj).get("envFrom", []):
        assert set(source) == {"configMapRef"}, "only ConfigMaps are loaded whole"
        values.update(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    values.update({e["name"]: e["value"] for e in container(obj).get("env", []) if "value" in e})
    return values


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are used"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def service_of(objects: list[Obj], selector: dict[str, str]) -> str | None:
    """The fleet service whose pods a Service's (or a monitor's) label selector picks."""
    found = [
        s.name
        for s in SERVICES
        if selects({"matchLabels": selector}, pod_labels(workload_of(objects, s.name)))
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def pod_labels(obj: Obj) -> dict[str, str]:
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


def policies_for(objects: list[Obj], labels: dict[str, str], direction: str) -> list[Obj]:
    return [
        p
        for p in of_kind(objects, "NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def fleet_peers(objects: list[Obj], rules: list[Obj], side: str) -> dict[str, set[int]]:
    """In-namespace fleet services a set of rules lets through, with the ports allowed."""
    found: dict[str, set[int]] = {}
    for rule in rules:
        ports = {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get(side, []):
            if set(peer) == {"podSelector"}:
                for s in SERVICES:
                    if selects(peer["podSelector"], pod_labels(workload_of(objects, s.name))):
                        found.setdefault(s.name, set()).update(ports)
    return found


def rules(policies: list[Obj], key: str) -> list[Obj]:
    return [rule for p in policies for rule in p["spec"].get(key, [])]


# --- the files ----------------------------------------------------------------------------------


def test_the_committed_manifests_are_the_generators_output() -> None:
    wanted = generate.render()
    on_disk = {str(p.relative_to(MANIFESTS)) for p in MANIFESTS.rglob("*.yaml")}
    assert on_disk == set(wanted), "run `.venv/bin/python -m k8s.generate`"
    drifted = [p for p, text in wanted.items() if (MANIFESTS / p).read_text() != text]
    assert not drifted, f"edited by hand or stale, run `.venv/bin/python -m k8s.generate`: {drifted}"


def test_no_manifest_is_ignored_by_git() -> None:
    """A generated file git ignores (a `secrets/` rule, say) would be missing from every clone."""
    paths = "\n".join(str(MANIFESTS.relative_to(REPO_ROOT) / p) for p in generate.render())
    found = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "--stdin"],
        input=paths,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 1 and not found.stdout, f"git ignores: {found.stdout.split()}"


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_core_object_is_valid(built: dict[str, list[Obj]], overlay: str, version: str) -> None:
    core = [o for o in built[overlay] if "coreos.com" not in o["apiVersion"]]
    assert len(core) > 40
    errors = []
    for obj in core:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:  # collected: one short line each
            errors.append(f"{obj['kind']}/{obj['metadata']['name']} {error.json_path}: {error.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_secret_templates_are_valid(templates: list[Obj], version: str) -> None:
    for obj in templates:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_scrape_each_service_metrics(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    monitors = of_kind(objects, "ServiceMonitor")
    assert {m["apiVersion"] for m in monitors} == {"monitoring.coreos.com/v1"}
    assert "/metrics" in operational_paths()
    scraped = set()
    for monitor in monitors:
        assert set(monitor["spec"]) <= {"selector", "endpoints", "namespaceSelector"}
        services = [
            s
            for s in of_kind(objects, "Service")
            if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
        ]
        assert len(services) == 1, monitor["metadata"]["name"]
        port_names = {p["name"] for p in services[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"
            assert endpoint["honorLabels"] is True, "keeps the metrics' own `service` label"
            credentials = endpoint.get("authorization", {}).get("credentials")
            if credentials:
                assert endpoint["authorization"]["type"] == "Bearer"
        scraped.add(service_of(objects, services[0]["spec"]["selector"]))
    assert scraped == {s.name for s in SERVICES}
    gateway = next(
        m for m in monitors if selects(m["spec"]["selector"], pod_labels(workload_of(objects, "api_gateway")))
    )
    assert gateway["spec"]["endpoints"][0]["authorization"]["credentials"]["key"] == "GATEWAY_OPERATOR_TOKEN"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_resources_and_patch_targets_exist(base: list[Obj], overlay: str) -> None:
    directory = MANIFESTS / "overlays" / overlay
    body = kustomize.kustomization(directory)
    for resource in body["resources"]:
        assert (directory / resource / "kustomization.yaml").exists() or (directory / resource).is_file()
    for entry in body["patches"]:
        assert (directory / entry["path"]).is_file(), entry
        patch = kustomize.load_yaml(directory / entry["path"])[0]
        targets = kustomize.patch_targets(base, entry, patch)
        assert targets, entry
        if isinstance(patch, list):  # JSON 6902: every path applies to every target
            for index in targets:
                kustomize.json_patch(base[index], patch)
    base_images = {kustomize.split_image(c["image"])[0] for o in base for c in kustomize.containers(o)}
    assert {i["name"] for i in body["images"]} == base_images, "every image gets the overlay's tag"
    assert {r["name"] for r in body["replicas"]} == {
        d["metadata"]["name"] for d in of_kind(base, "Deployment")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images_are_tagged_by_the_overlay(built: dict[str, list[Obj]], overlay: str) -> None:
    for obj in workloads(built[overlay]):
        _, tag, _ = kustomize.split_image(container(obj)["image"])
        assert tag and tag != "latest", container(obj)["image"]


def test_every_service_has_its_objects(base: list[Obj]) -> None:
    assert len(of_kind(base, "Deployment")) == len(SERVICES)
    for s in SERVICES:
        deployment = workload_of(base, s.name)
        name = deployment["metadata"]["name"]
        for kind in (
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "ServiceMonitor",
        ):
            named(base, kind, name)
    assert len(of_kind(base, "Job")) == 1
    assert len(of_kind(base, "Namespace")) == 1
    assert not of_kind(base, "Secret"), "Secrets come from the operator (k8s/manifests/secret-templates)"


# --- probes, ports, commands, pods --------------------------------------------------------------


def test_probes_ports_and_commands_follow_the_fleet(base: list[Obj]) -> None:
    routes = operational_paths()
    assert {"/health", "/ready"} <= routes
    for s in SERVICES:
        deployment = workload_of(base, s.name)
        c = container(deployment)
        assert "command" not in c, "the image's entrypoint runs (it drops empty settings)"
        assert c["args"][:2] == ["uvicorn", s.app_path]
        assert c["args"][c["args"].index("--port") + 1] == str(s.port)
        assert c["args"][c["args"].index("--host") + 1] == "0.0.0.0"
        assert c["ports"] == [{"name": "http", "containerPort": s.port, "protocol": "TCP"}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert {probe["httpGet"]["path"] for probe in (c["livenessProbe"], c["readinessProbe"])} <= routes
        service = named(base, "Service", deployment["metadata"]["name"])
        assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(deployment))
        assert service["spec"]["ports"] == [
            {"name": "http", "port": s.port, "targetPort": "http", "protocol": "TCP"}
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down(built: dict[str, list[Obj]], overlay: str) -> None:
    for obj in workloads(built[overlay]):
        p, c = pod(obj), container(obj)
        assert p["securityContext"]["runAsNonRoot"] is True
        assert p["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert p["automountServiceAccountToken"] is False
        assert p["enableServiceLinks"] is False, "no <SERVICE>_PORT variables from other Services"
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
        tmp = next(m for m in c["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in p["volumes"] if v["name"] == tmp["name"])
        assert set(c["resources"]) == {"requests", "limits"}
        assert set(c["resources"]["requests"]) == set(c["resources"]["limits"]) == {"cpu", "memory"}


# --- settings and secrets -----------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_gets_only_its_own_secrets(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    for s in SERVICES:
        refs = list(secret_refs(workload_of(objects, s.name)))
        required = {key for _, key, optional in refs if not optional}
        optional = {key for _, key, opt in refs if opt}
        assert required == secret_settings(s.name), s.name
        assert optional == provider_secrets(s.name) - secret_settings(s.name), s.name
        assert len({secret for secret, _, _ in refs}) == 1, f"{s.name} reads one Secret, its own"
    owners = {secret for s in SERVICES for secret, _, _ in secret_refs(workload_of(objects, s.name))}
    assert len(owners) == len(SERVICES), "no two services share a Secret"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_gets_the_settings_it_reads(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    for s in SERVICES:
        deployment = workload_of(objects, s.name)
        plain = config_env(objects, deployment)
        given = set(plain) | {key for _, key, _ in secret_refs(deployment)}
        reads = env_names(settings_class(s.name))
        assert given - PROCESS_BASICS <= set(reads), f"{s.name} gets settings it does not read"
        assert {k for k, required in reads.items() if required} <= given, f"{s.name} misses a required one"
        # the peers' URLs: exactly the dev stack's (fleet `calls` and the token issuer), to their Services
        urls = {k for k in plain if k in {p.url_env for p in SERVICES}}
        assert urls == {spec(p).url_env for p in s.peers}, s.name
        for peer in s.peers:
            parts = urlsplit(plain[spec(peer).url_env])
            target = named(objects, "Service", str(parts.hostname))
            assert service_of(objects, target["spec"]["selector"]) == peer
            assert parts.port == spec(peer).port
        jwks = urlsplit(plain["JWKS_URL"])
        assert (
            service_of(objects, named(objects, "Service", str(jwks.hostname))["spec"]["selector"])
            == "user_management"
        )
        assert jwks.path == urlsplit(dev_env(s.name)["JWKS_URL"]).path


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_owner_url_goes_only_to_the_migrate_job(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    (job,) = of_kind(objects, "Job")
    assert container(job)["args"][:3] == ["python", "-m", "shared.migrations"]
    refs = list(secret_refs(job))
    assert {key for _, key, _ in refs} == migrate_reads()
    owner_secret = next(secret for secret, key, _ in refs if key == "DATABASE_URL")
    for deployment in of_kind(objects, "Deployment"):
        for secret, key, _ in secret_refs(deployment):
            assert key != "DATABASE_URL" and secret != owner_secret
        assert "DATABASE_URL" not in config_env(objects, deployment)
    for s in SERVICES:  # each role's URL comes from that service's own Secret
        if s.schema:
            own = {secret for secret, _, _ in secret_refs(workload_of(objects, s.name))}
            assert {secret for secret, key, _ in refs if key == s.database_url_env} == own


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_signing_key_and_accounts_go_only_to_user_management(
    built: dict[str, list[Obj]], overlay: str
) -> None:
    objects = built[overlay]
    um = workload_of(objects, "user_management")
    key_file = Path(config_env(objects, um)["JWT_PRIVATE_KEY_FILE"])
    mount = next(m for m in container(um)["volumeMounts"] if m["mountPath"] == str(key_file.parent))
    assert mount["readOnly"] is True
    volume = next(v for v in pod(um)["volumes"] if v["name"] == mount["name"])
    signing_secret = volume["secret"]["secretName"]
    for obj in workloads(objects):
        secret_volumes = {v["secret"]["secretName"] for v in pod(obj).get("volumes", []) if "secret" in v}
        keys = {key for _, key, _ in secret_refs(obj)}
        if obj is um:
            assert secret_volumes == {signing_secret}
        else:
            assert not secret_volumes, obj["metadata"]["name"]
            assert "SERVICE_ACCOUNTS" not in keys and "JWT_PRIVATE_KEY_FILE" not in config_env(objects, obj)


def test_secret_templates_hold_no_value_and_every_referenced_key(
    built: dict[str, list[Obj]], templates: list[Obj]
) -> None:
    assert {o["kind"] for o in templates} == {"Secret"}
    keys = set()
    for secret in templates:
        assert "data" not in secret, secret["metadata"]["name"]
        assert all(value == "" for value in secret["stringData"].values()), secret["metadata"]["name"]
        keys |= {(secret["metadata"]["name"], key) for key in secret["stringData"]}
    for objects in built.values():
        assert not of_kind(objects, "Secret")
        for obj in workloads(objects):
            assert {(s, k) for s, k, _ in secret_refs(obj)} <= keys, "the templates list every key"
            for volume in pod(obj)["volumes"]:
                if "secret" in volume:
                    assert any(name == volume["secret"]["secretName"] for name, _ in keys)
        for monitor in of_kind(objects, "ServiceMonitor"):
            for endpoint in monitor["spec"]["endpoints"]:
                if creds := endpoint.get("authorization", {}).get("credentials"):
                    assert (creds["name"], creds["key"]) in keys
    um_key = Path(
        config_env(built["prod"], workload_of(built["prod"], "user_management"))["JWT_PRIVATE_KEY_FILE"]
    )
    assert any(key == um_key.name for _, key in keys), "the signing key's file name is a key of its Secret"


# --- network ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_select_pods(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    for policy in of_kind(objects, "NetworkPolicy"):
        assert any(selects(policy["spec"]["podSelector"], pod_labels(w)) for w in workloads(objects)), policy
    deny = [
        p
        for p in of_kind(objects, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "a default deny of all ingress and egress"
    for obj in workloads(objects):
        dns = [
            rule
            for rule in rules(policies_for(objects, pod_labels(obj), "Egress"), "egress")
            if {"protocol": "UDP", "port": 53} in rule.get("ports", [])
        ]
        assert dns and all(
            peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
            for rule in dns
            for peer in rule["to"]
        )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_is_reached_only_by_those_that_call_it(
    built: dict[str, list[Obj]], overlay: str
) -> None:
    objects = built[overlay]
    assert callers("user_management") == {s.name for s in SERVICES}, "everyone fetches the JWKS"
    for s in SERVICES:
        labels = pod_labels(workload_of(objects, s.name))
        ingress = rules(policies_for(objects, labels, "Ingress"), "ingress")
        allowed = fleet_peers(objects, ingress, "from")
        expected = callers(s.name)
        if s.name != "api_gateway":
            assert "api_gateway" in expected
        assert set(allowed) == expected, s.name
        assert all(ports == {s.port} for ports in allowed.values())
        outside = [peer for rule in ingress for peer in rule["from"] if "namespaceSelector" in peer]
        namespaces = {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in outside}
        assert namespaces == (
            {"ingress-nginx", "monitoring"} if s.name == "api_gateway" else {"monitoring"}
        ), s.name
        assert not [peer for rule in ingress for peer in rule["from"] if "ipBlock" in peer]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reaches_only_what_its_settings_name(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    for s in SERVICES:
        egress = rules(policies_for(objects, pod_labels(workload_of(objects, s.name)), "Egress"), "egress")
        assert fleet_peers(objects, egress, "to") == {peer: {spec(peer).port} for peer in reaches(s.name)}, (
            s.name
        )
        blocks = [peer["ipBlock"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
        if s.name in INTERNET:
            v4 = next(b for b in blocks if b["cidr"] == "0.0.0.0/0")
            assert set(PRIVATE) <= set(v4["except"]), "no private ranges, no metadata address"
        else:
            assert not [b for b in blocks if ipaddress.ip_network(b["cidr"]).prefixlen == 0], s.name
        stores = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]: {p["port"] for p in rule["ports"]}
            for rule in egress
            for peer in rule["to"]
            if "namespaceSelector" in peer
            and rule.get("ports")
            and peer.get("podSelector")
            and peer["podSelector"]["matchLabels"].get("app.kubernetes.io/name") in ("postgresql", "redis")
        }
        assert stores == ({"postgresql": {5432}, "redis": {6379}} if s.schema else {"redis": {6379}}), s.name
    (job,) = of_kind(objects, "Job")
    job_egress = rules(policies_for(objects, pod_labels(job), "Egress"), "egress")
    assert not fleet_peers(objects, job_egress, "to"), "the migrate step talks to PostgreSQL only"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_ingress_exposes_only_the_gateway(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    (ingress,) = of_kind(objects, "Ingress")
    gateway_service = named(
        objects, "Service", ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    )
    assert service_of(objects, gateway_service["spec"]["selector"]) == "api_gateway"
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    tls_hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
    paths = []
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == gateway_service["metadata"]["name"]
            paths.append((path["path"], path["pathType"]))
    for prefix, _ in ROUTES:  # every proxied prefix reaches the gateway
        assert any(prefix == p or (kind == "Prefix" and prefix.startswith(p + "/")) for p, kind in paths), (
            prefix
        )
    hidden = {*OPERATOR_PATHS, "/ready"}
    assert not [
        p
        for p, kind in paths
        if p in hidden or any(h.startswith(p + "/") for h in hidden if kind == "Prefix")
    ]
    public_urls = {
        v
        for s in SERVICES
        for v in config_env(objects, workload_of(objects, s.name)).values()
        if v.startswith("https://")
    }
    assert public_urls == {f"https://{host}" for host in tls_hosts}, (
        "links in mail and OAuth redirects use the host"
    )


# --- scaling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_autoscalers_and_disruption_budgets(built: dict[str, list[Obj]], overlay: str) -> None:
    objects = built[overlay]
    for deployment in of_kind(objects, "Deployment"):
        name = deployment["metadata"]["name"]
        hpa = next(
            h
            for h in of_kind(objects, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]["name"] == name
        )
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        replicas = deployment["spec"]["replicas"]
        assert hpa["spec"]["minReplicas"] == replicas <= hpa["spec"]["maxReplicas"]
        pdbs = [
            p
            for p in of_kind(objects, "PodDisruptionBudget")
            if selects(p["spec"]["selector"], pod_labels(deployment))
        ]
        assert len(pdbs) == 1
        budget = pdbs[0]["spec"]
        if overlay == "prod":
            assert replicas >= 2 and budget.get("minAvailable") == 1 and "maxUnavailable" not in budget
        else:  # one replica: the budget must still let a node drain
            assert budget.get("maxUnavailable") == 1 and "minAvailable" not in budget


def test_event_consumers_scale_on_their_pending_events(built: dict[str, list[Obj]]) -> None:
    for s in SERVICES:
        hpa = named(
            built["prod"], "HorizontalPodAutoscaler", workload_of(built["prod"], s.name)["metadata"]["name"]
        )
        external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
        if s.name in ("integration", "notification", "ai_agents"):
            assert [e["metric"]["name"] for e in external] == [EVENTS_PENDING.describe()[0].name]
            assert external[0]["metric"]["selector"] == {"matchLabels": {"service": s.name}}
        else:
            assert not external
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])


# --- the offline kustomize ----------------------------------------------------------------------


def test_strategic_merge_merges_named_items_and_deletes_nulls() -> None:
    base = {
        "spec": {
            "containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "1"}}}],
            "keep": 1,
        }
    }
    patch = {
        "spec": {
            "containers": [{"name": "a", "resources": {"requests": {"memory": "1Gi"}}}, {"name": "b"}],
            "keep": None,
        }
    }
    merged = kustomize.merge(base, patch)
    assert merged == {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                {"name": "b"},
            ]
        }
    }
    assert base["spec"]["keep"] == 1, "the input is left alone"


def test_json_patches_and_missing_targets_fail_loudly() -> None:
    obj = {
        "kind": "Ingress",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": "i", "annotations": {"a/b": "1"}},
    }
    patched = kustomize.json_patch(
        obj, [{"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"}]
    )
    assert patched["metadata"]["annotations"] == {"a/b": "2"}
    with pytest.raises(kustomize.KustomizeError):
        kustomize.json_patch(obj, [{"op": "replace", "path": "/spec/rules/0/host", "value": "h"}])
    with pytest.raises(kustomize.KustomizeError):
        kustomize.patch_targets([obj], {"path": "p.yaml", "target": {"kind": "Deployment"}}, [])
    assert kustomize.split_image("registry:5000/a/b:1.2@sha256:00") == (
        "registry:5000/a/b",
        "1.2",
        "sha256:00",
    )


def test_an_overlay_can_drop_the_service_monitors(tmp_path: Path) -> None:
    """Where the Prometheus Operator's CRDs are missing (README "Monitoring")."""
    (tmp_path / "drop.yaml").write_text(
        "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: any}\n$patch: delete\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{MANIFESTS / 'base'}]\npatches:\n  - path: drop.yaml\n    target: {{kind: ServiceMonitor}}\n"
    )
    objects = kustomize.build(tmp_path)
    assert not of_kind(objects, "ServiceMonitor")
    assert len(of_kind(objects, "Deployment")) == len(SERVICES)

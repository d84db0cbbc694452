"""The Kubernetes manifests, rendered from deploy/k8s/overlays and checked against the code.

Rendering needs kubectl (kustomize v5); .ci/run installs an offline one when the machine has none.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from likeness.assets.server import SERVICE as ASSETS_SERVICE
from likeness.assets.settings import AssetsSettings
from likeness.generator.server import SERVICE as GENERATOR_SERVICE
from likeness.generator.settings import GeneratorSettings
from likeness.identity.server import SERVICE as IDENTITY_SERVICE
from likeness.identity.settings import IdentitySettings
from scripts import validate_k8s

ROOT = validate_k8s.ROOT
OVERLAYS = {path.name: path for path in validate_k8s.overlay_dirs()}
BROKEN = Path(__file__).parent / "k8s_fixtures" / "broken"

Object = dict[str, Any]

SERVICES: dict[str, tuple[type[BaseSettings], str]] = {
    "identity": (IdentitySettings, IDENTITY_SERVICE.full_name),
    "assets": (AssetsSettings, ASSETS_SERVICE.full_name),
    "generator": (GeneratorSettings, GENERATOR_SERVICE.full_name),
}


def rendered(overlay: str) -> tuple[Object, ...]:
    return validate_k8s.render(OVERLAYS[overlay])


def one(objects: tuple[Object, ...], kind: str, name: str) -> Object:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def of_kind(objects: tuple[Object, ...], kind: str) -> list[Object]:
    return [obj for obj in objects if obj["kind"] == kind]


def test_both_overlays_exist() -> None:
    assert set(OVERLAYS) == {"dev", "prod"}


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_renders_and_validates(overlay: str) -> None:
    objects = rendered(overlay)
    assert validate_k8s.validate(objects) == []
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    for service in SERVICES:
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap", "PodDisruptionBudget"):
            assert (kind, f"likeness-{service}") in kinds
    assert ("HorizontalPodAutoscaler", "likeness-identity") in kinds
    assert ("RayService", "likeness-model") in kinds
    assert ("Cluster", "likeness-db") in kinds
    assert ("StatefulSet", "likeness-minio") in kinds
    assert ("Job", "likeness-minio-buckets") in kinds
    assert {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"} == {"likeness"}


def test_broken_manifests_fail_validation() -> None:
    problems = validate_k8s.validate(validate_k8s.render(BROKEN))
    expected = [
        r"Deployment/likeness-identity: .*'readinesProbe' was unexpected",
        r"Tenant/likeness-objects: no schema for minio\.min\.io/v2 Tenant",
        r"Cluster/likeness-db: spec\.instances: 'three' is not of type 'integer'",
        r"RayService/likeness-model: spec\.rayClusterConfig\.workerGroupSpecs\.0: .*'replica' was unexpected",
        r"Secret/likeness-s3: Secrets are created on the cluster",
        r"Deployment/likeness-assets container assets: readOnlyRootFilesystem is not true",
    ]
    for pattern in expected:
        assert any(re.search(pattern, problem) for problem in problems), (pattern, problems)
    assert len(problems) == len(expected), problems


def test_the_command_fails_on_broken_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    assert validate_k8s.main([str(BROKEN)]) == 1
    assert "6 problem(s)" in capsys.readouterr().err
    assert validate_k8s.main([str(path) for path in OVERLAYS.values()]) == 0


def test_rendering_without_kubectl_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate_k8s.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(validate_k8s.RenderError, match="kubectl not found"):
        validate_k8s.kubectl()


# --- NetworkPolicies -----------------------------------------------------------------------------

# Peers outside the namespace, named by the selector that stands for them.
EXTERNAL_PEERS = {
    (("",), (("likeness/api-client", "true"),)): "clients",
    ((("kubernetes.io/metadata.name", "kube-system"),), (("k8s-app", "kube-dns"),)): "kube-dns",
    (("",), (("app.kubernetes.io/name", "kuberay-operator"),)): "kuberay-operator",
    (("",), (("app.kubernetes.io/name", "cloudnative-pg"),)): "cnpg-operator",
}

RAY = ("model-head", "model-worker")
WORKLOADS = ("identity", "assets", "generator", "postgres", "minio", "minio-buckets", *RAY)

INTENDED_EDGES = {
    # Clients reach the three services.
    ("clients", "identity", "TCP/50051"),
    ("clients", "assets", "TCP/50052"),
    ("clients", "generator", "TCP/50053"),
    # The services among themselves.
    ("generator", "assets", "TCP/50052"),
    ("generator", "identity", "TCP/50051"),
    ("identity", "assets", "TCP/50052"),
    # Services to PostgreSQL and MinIO.
    ("assets", "postgres", "TCP/5432"),
    ("generator", "postgres", "TCP/5432"),
    ("assets", "minio", "TCP/9000"),
    # Ray inside itself on every port; the generator's pods run a node of the model's cluster.
    *{(source, destination, "any") for source in (*RAY, "generator") for destination in RAY},
    *{(source, "generator", "any") for source in RAY},
    # The KubeRay operator deploys and watches the Serve application through the dashboard.
    ("kuberay-operator", "model-head", "TCP/8265"),
    # Weights into the model's workers; buckets created by the Job; MinIO's distributed peers.
    ("model-worker", "minio", "TCP/9000"),
    ("minio-buckets", "minio", "TCP/9000"),
    ("minio", "minio", "TCP/9000"),
    # CloudNativePG: replication and status between instances, the operator, the Kubernetes API.
    ("postgres", "postgres", "TCP/5432"),
    ("postgres", "postgres", "TCP/8000"),
    ("cnpg-operator", "postgres", "TCP/5432"),
    ("cnpg-operator", "postgres", "TCP/8000"),
    ("postgres", "cidr:0.0.0.0/0", "TCP/443"),
    ("postgres", "cidr:0.0.0.0/0", "TCP/6443"),
    # Every pod resolves names.
    *{(workload, "kube-dns", port) for workload in WORKLOADS for port in ("UDP/53", "TCP/53")},
}


def pod_labels(objects: tuple[Object, ...]) -> dict[str, dict[str, str]]:
    """Workload name -> the labels its pods carry, including those the operators add."""
    pods: dict[str, dict[str, str]] = {}
    for obj in objects:
        kind, spec = obj["kind"], obj.get("spec", {})
        if kind in {"Deployment", "StatefulSet", "Job"}:
            labels = spec["template"]["metadata"]["labels"]
            pods[labels["app.kubernetes.io/name"]] = labels
        elif kind == "RayService":
            cluster = spec["rayClusterConfig"]
            head = cluster["headGroupSpec"]["template"]["metadata"]["labels"]
            pods[f"{head['app.kubernetes.io/name']}-head"] = {**head, "ray.io/node-type": "head"}
            for group in cluster["workerGroupSpecs"]:
                worker = group["template"]["metadata"]["labels"]
                pods[f"{worker['app.kubernetes.io/name']}-worker"] = {**worker, "ray.io/node-type": "worker"}
        elif kind == "Cluster":
            inherited = spec.get("inheritedMetadata", {}).get("labels", {})
            pods[obj["metadata"]["labels"]["app.kubernetes.io/name"]] = {
                **inherited,
                "cnpg.io/cluster": obj["metadata"]["name"],
                "cnpg.io/podRole": "instance",
            }
    return pods


def matches(selector: Object, labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "the edge test reads matchLabels only"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def peers(peer_list: list[Object] | None, pods: dict[str, dict[str, str]], namespace: Object) -> set[str]:
    """The workloads (or named outside peers) one side of a rule admits."""
    if not peer_list:
        return {"anywhere"}
    namespace_labels = {
        **namespace["metadata"].get("labels", {}),
        "kubernetes.io/metadata.name": namespace["metadata"]["name"],
    }
    found = set()
    for peer in peer_list:
        if "ipBlock" in peer:
            assert not peer["ipBlock"].get("except")
            found.add(f"cidr:{peer['ipBlock']['cidr']}")
            continue
        pod_selector = peer.get("podSelector", {})
        namespace_selector = peer.get("namespaceSelector")
        if namespace_selector is None or matches(namespace_selector, namespace_labels):
            found |= {name for name, labels in pods.items() if matches(pod_selector, labels)}
        if namespace_selector is not None:
            key = (
                tuple(sorted(namespace_selector.get("matchLabels", {}).items())) or ("",),
                tuple(sorted(pod_selector.get("matchLabels", {}).items())),
            )
            found.add(EXTERNAL_PEERS.get(key, f"unnamed peer {key}"))
    return found


def ports(port_list: list[Object] | None) -> set[str]:
    if not port_list:
        return {"any"}
    named = set()
    for port in port_list:
        assert "endPort" not in port
        named.add(f"{port.get('protocol', 'TCP')}/{port.get('port', 'any')}")
    return named


def policy_edges(objects: tuple[Object, ...]) -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """(ingress edges, egress edges) the NetworkPolicies allow, as (source, destination, port)."""
    pods = pod_labels(objects)
    namespace = one(objects, "Namespace", "likeness")
    ingress, egress = set(), set()
    for policy in of_kind(objects, "NetworkPolicy"):
        spec = policy["spec"]
        selected = {name for name, labels in pods.items() if matches(spec["podSelector"], labels)}
        assert selected, f"NetworkPolicy/{policy['metadata']['name']} selects no pod"
        for rule in spec.get("ingress", []):
            sources = peers(rule.get("from"), pods, namespace)
            ingress |= {(s, d, p) for s in sources for d in selected for p in ports(rule.get("ports"))}
        for rule in spec.get("egress", []):
            destinations = peers(rule.get("to"), pods, namespace)
            egress |= {(s, d, p) for s in selected for d in destinations for p in ports(rule.get("ports"))}
    return ingress, egress


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_pod_is_denied_by_default(overlay: str) -> None:
    objects = rendered(overlay)
    assert set(pod_labels(objects)) == set(WORKLOADS)
    default_deny = [
        policy
        for policy in of_kind(objects, "NetworkPolicy")
        if policy["spec"]["podSelector"] == {}
        and set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not policy["spec"].get("ingress")
        and not policy["spec"].get("egress")
    ]
    assert len(default_deny) == 1


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_network_policies_open_exactly_the_intended_edges(overlay: str) -> None:
    ingress, egress = policy_edges(rendered(overlay))
    inside = set(WORKLOADS)
    # Between our own pods a connection needs both ends to allow it: every such edge is opened by
    # the source's egress and the destination's ingress, and no rule is left half-open.
    ingress_inside = {edge for edge in ingress if edge[0] in inside}
    egress_inside = {edge for edge in egress if edge[1] in inside}
    assert ingress_inside == egress_inside, ingress_inside ^ egress_inside
    open_edges = (
        ingress_inside
        | {edge for edge in ingress if edge[0] not in inside}
        | {edge for edge in egress if edge[1] not in inside}
    )
    assert open_edges == INTENDED_EDGES, {
        "open but not intended": open_edges - INTENDED_EDGES,
        "intended but not open": INTENDED_EDGES - open_edges,
    }


# --- services against their code ----------------------------------------------------------------


def service_containers(objects: tuple[Object, ...]) -> Iterator[tuple[str, Object, Object]]:
    """(service, Deployment, container) for every container that runs `likeness serve <service>`."""
    for deployment in of_kind(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            command = container.get("command", []) + container.get("args", [])
            assert command[:2] == ["likeness", "serve"], command
            yield command[2], deployment, container


def environment(objects: tuple[Object, ...], container: Object) -> dict[str, str | None]:
    """Every variable the container gets: literal values, ConfigMap values; None for Secret values."""
    variables: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, source
        variables.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        variables[variable["name"]] = variable.get("value")
    return variables


def settings_env_names(settings_class: type[BaseSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings_class.model_fields}


RAY_OWN_VARIABLES = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN"}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_variable_the_manifests_set_is_a_setting_of_its_service(overlay: str) -> None:
    objects = rendered(overlay)
    seen = set()
    for service, _, container in service_containers(objects):
        settings_class, _ = SERVICES[service]
        unknown = set(environment(objects, container)) - settings_env_names(settings_class)
        if service == "generator":
            unknown -= RAY_OWN_VARIABLES  # read by the Ray node and driver the generator runs
        assert not unknown, f"{service}: not settings of {settings_class.__name__}: {sorted(unknown)}"
        seen.add(service)
    assert seen == set(SERVICES)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_rendered_configuration_parses_as_each_services_settings(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = rendered(overlay)
    for service, _, container in service_containers(objects):
        settings_class, _ = SERVICES[service]
        with monkeypatch.context() as patch:
            for name, value in environment(objects, container).items():
                # Secret values are not in the repository; a placeholder of the right shape stands in.
                patch.setenv(
                    name, value if value is not None else ("[]" if name.endswith("JWT_KEYS") else "x")
                )
            settings = settings_class()
        # Bound to every interface: the default, 127.0.0.1, is unreachable from outside the pod.
        assert settings.host == "0.0.0.0", service  # noqa: S104


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_probe_and_service_ports_are_the_ports_the_services_listen_on(overlay: str) -> None:
    objects = rendered(overlay)
    for service, deployment, container in service_containers(objects):
        settings_class, full_name = SERVICES[service]
        port_variable = f"{settings_class.model_config['env_prefix']}PORT"
        listen_port = int(
            environment(objects, container).get(port_variable) or settings_class.model_fields["port"].default
        )
        assert listen_port == settings_class.model_fields["port"].default, service
        assert [port["containerPort"] for port in container["ports"]] == [listen_port], service
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["grpc"]["port"] == listen_port, (service, probe)
        # Readiness asks for the service itself; liveness and startup for the server as a whole.
        assert container["readinessProbe"]["grpc"]["service"] == full_name
        assert container["livenessProbe"]["grpc"]["service"] == ""
        assert container["startupProbe"]["grpc"]["service"] == ""
        selector = deployment["spec"]["selector"]["matchLabels"]
        kube_service = one(objects, "Service", deployment["metadata"]["name"])
        assert kube_service["spec"]["selector"] == selector
        (port,) = kube_service["spec"]["ports"]
        assert port["port"] == listen_port
        assert port["targetPort"] in {listen_port, container["ports"][0]["name"]}


def service_port(objects: tuple[Object, ...], address: str) -> tuple[Object, int]:
    """The Service that ``host:port`` names in the namespace, and the container port it leads to."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    kube_service = one(objects, "Service", host)
    (match,) = [entry for entry in kube_service["spec"]["ports"] if entry["port"] == int(port)]
    return kube_service, match["targetPort"]


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_addresses_in_the_configuration_lead_to_the_right_pods(overlay: str) -> None:
    objects = rendered(overlay)
    pods = pod_labels(objects)
    expected_target = {
        "ASSETS_ADDRESS": "assets",
        "IDENTITY_ADDRESS": "identity",
        "S3_ENDPOINT": "minio",
    }
    checked = set()
    for service, _, container in service_containers(objects):
        for name, value in environment(objects, container).items():
            suffix = next((key for key in expected_target if name.endswith(key)), None)
            if suffix is None:
                continue
            kube_service, _ = service_port(objects, value or "")
            assert matches({"matchLabels": kube_service["spec"]["selector"]}, pods[expected_target[suffix]])
            checked.add((service, suffix))
    assert checked == {
        ("identity", "ASSETS_ADDRESS"),
        ("generator", "ASSETS_ADDRESS"),
        ("generator", "IDENTITY_ADDRESS"),
        ("assets", "S3_ENDPOINT"),
    }


# --- the model -----------------------------------------------------------------------------------


def ray_pin() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (requirement,) = [
        entry for entry in pyproject["project"]["optional-dependencies"]["serve"] if entry.startswith("ray")
    ]
    match = re.fullmatch(r"ray\[serve\]==([\d.]+)", requirement)
    assert match, requirement
    return match[1]


def serve_config(objects: tuple[Object, ...]) -> Object:
    return yaml.safe_load(one(objects, "RayService", "likeness-model")["spec"]["serveConfigV2"])


def generator_setting(objects: tuple[Object, ...], name: str) -> str:
    (container,) = [
        container for service, _, container in service_containers(objects) if service == "generator"
    ]
    value = environment(objects, container).get(f"LIKENESS_GENERATOR_{name}")
    assert value is not None
    return value


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_ray_version_is_the_one_pin(overlay: str) -> None:
    pin = ray_pin()
    cluster = one(rendered(overlay), "RayService", "likeness-model")["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == pin
    dockerfile = (ROOT / "deploy" / "docker" / "model.Dockerfile").read_text()
    assert re.search(rf"^ARG RAY_IMAGE=rayproject/ray:{re.escape(pin)}-py311-", dockerfile, re.M)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_generator_is_pointed_at_the_serve_application(overlay: str) -> None:
    objects = rendered(overlay)
    (application,) = serve_config(objects)["applications"]
    assert application["import_path"] == "likeness.generator.serve_app:app"
    assert generator_setting(objects, "SERVE_APP_NAME") == application["name"]
    # KubeRay names a RayService's stable head Service <name>-head-svc. The generator joins the
    # cluster through its GCS with a node of its own (Ray Client cannot carry streaming handle calls).
    address = generator_setting(objects, "RAY_ADDRESS")
    assert address == "likeness-model-head-svc:6379"
    # Through the ray-node sidecar of its pod, which Kubernetes runs and restarts: the generator only
    # attaches, through the temp dir both containers mount.
    temp_dir = generator_setting(objects, "RAY_NODE_TEMP_DIR")
    ((_, deployment, container),) = [each for each in service_containers(objects) if each[0] == "generator"]
    pod = deployment["spec"]["template"]["spec"]
    (sidecar,) = pod["initContainers"]
    assert sidecar["restartPolicy"] == "Always"
    command = sidecar["command"]
    assert command[:2] == ["ray", "start"] and "--block" in command
    assert f"--temp-dir={temp_dir}" in command and "--address=$(LIKENESS_GENERATOR_RAY_ADDRESS)" in command
    assert "--num-cpus=0" in command and "--num-gpus=0" in command
    for each in (sidecar, container):
        mounts = {mount["mountPath"]: mount["name"] for mount in each["volumeMounts"]}
        assert mounts[temp_dir] == "ray-node" and mounts["/dev/shm"] == "dshm", each["name"]
    sidecar_env = {variable["name"]: variable for variable in sidecar["env"]}
    assert sidecar_env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "likeness-ray-auth"
    head = one(objects, "RayService", "likeness-model")["spec"]["rayClusterConfig"]["headGroupSpec"]
    head_ports = {
        port["name"]: port["containerPort"] for port in head["template"]["spec"]["containers"][0]["ports"]
    }
    assert head_ports["gcs"] == 6379
    # The generator's node offers no CPUs, so Serve must not place a proxy on it.
    assert serve_config(objects)["proxy_location"] == "HeadOnly"


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_models_ray_cluster_requires_a_token_and_the_generator_has_it(overlay: str) -> None:
    objects = rendered(overlay)
    cluster = one(objects, "RayService", "likeness-model")["spec"]["rayClusterConfig"]
    # A Secret of our own, not one the operator generates per RayCluster: it must stay the same when a
    # RayService upgrade starts a new cluster, and the generator must know its name.
    assert cluster["authOptions"] == {"mode": "token", "secretName": "likeness-ray-auth"}
    (container,) = [
        container for service, _, container in service_containers(objects) if service == "generator"
    ]
    variables = {variable["name"]: variable for variable in container["env"]}
    assert variables["RAY_AUTH_MODE"]["value"] == "token"
    # KubeRay reads the token from the Secret's key auth_token.
    assert variables["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "likeness-ray-auth",
        "key": "auth_token",
    }


def gpus(container: Object) -> int:
    limits = container.get("resources", {}).get("limits", {})
    return int(limits.get("nvidia.com/gpu", 0))


def test_prod_runs_one_replica_per_four_gpu_worker_on_a100_h100_nodes() -> None:
    objects = rendered("prod")
    (deployment,) = serve_config(objects)["applications"][0]["deployments"]
    (group,) = one(objects, "RayService", "likeness-model")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    pod = group["template"]["spec"]
    worker = pod["containers"][0]
    assert gpus(worker) == 4
    assert (
        worker["resources"]["requests"]["nvidia.com/gpu"] == worker["resources"]["limits"]["nvidia.com/gpu"]
    )
    assert deployment["ray_actor_options"]["num_gpus"] == 4
    assert deployment["num_replicas"] == group["replicas"] == group["minReplicas"] == group["maxReplicas"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    (expression,) = term["matchExpressions"]
    assert expression["key"] == "nvidia.com/gpu.product"
    assert expression["operator"] == "In"
    assert {value.split("-")[1] for value in expression["values"]} <= {"A100", "H100", "H200"}


def test_dev_runs_the_tiny_model_on_the_cpu() -> None:
    objects = rendered("dev")
    (application,) = serve_config(objects)["applications"]
    assert application["args"]["variant"] == "tiny"
    assert application["deployments"][0]["ray_actor_options"]["num_gpus"] == 0
    for _, pod in validate_k8s.pod_specs(one(objects, "RayService", "likeness-model")):
        assert "tolerations" not in pod and "affinity" not in pod and "nodeSelector" not in pod
        assert all(gpus(container) == 0 for container in validate_k8s.containers(pod))


def test_prod_weights_are_copied_from_minio_into_the_model_dir() -> None:
    objects = rendered("prod")
    (application,) = serve_config(objects)["applications"]
    model_dir = application["args"]["model_dir"]
    (group,) = one(objects, "RayService", "likeness-model")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    pod = group["template"]["spec"]
    (fetch,) = pod["initContainers"]
    variables = {variable["name"]: variable for variable in fetch["env"]}
    assert variables["MODEL_DIR"]["value"] == model_dir
    bucket = variables["WEIGHTS"]["value"].split("/")[0]
    assert variables["MC_HOST_models"]["value"].endswith("@likeness-minio:9000")
    # The bucket exists because the Job creates it.
    job_script = one(objects, "Job", "likeness-minio-buckets")["spec"]["template"]["spec"]["containers"][0]
    assert f"minio/{bucket}" in job_script["command"][-1].split()
    # The init container writes the volume the worker reads at the model's path.
    (fetch_mount,) = [mount for mount in fetch["volumeMounts"] if model_dir.startswith(mount["mountPath"])]
    (worker_mount,) = [
        mount for mount in pod["containers"][0]["volumeMounts"] if model_dir.startswith(mount["mountPath"])
    ]
    assert fetch_mount["name"] == worker_mount["name"]
    assert worker_mount.get("readOnly") is True
    worker_env = {variable["name"]: variable.get("value") for variable in pod["containers"][0]["env"]}
    assert worker_env["HF_HUB_OFFLINE"] == "1"


# --- secrets and images --------------------------------------------------------------------------


def secret_references(objects: tuple[Object, ...]) -> set[tuple[str, str]]:
    """(Secret name, key) for every Secret value the manifests read."""
    references = set()
    for obj in objects:
        for _, pod in validate_k8s.pod_specs(obj):
            for container in validate_k8s.containers(pod):
                for variable in container.get("env", []):
                    secret = variable.get("valueFrom", {}).get("secretKeyRef")
                    if secret:
                        references.add((secret["name"], secret["key"]))
            for volume in pod.get("volumes", []):
                if "secret" in volume:
                    references |= {
                        (volume["secret"]["secretName"], item["key"]) for item in volume["secret"]["items"]
                    }
    return references


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_every_secret_the_manifests_read_is_documented(overlay: str) -> None:
    readme = (ROOT / "deploy" / "k8s" / "README.md").read_text()
    references = secret_references(rendered(overlay))
    assert {name for name, _ in references} == {
        "likeness-jwt",
        "likeness-db-app",
        "likeness-db-service",
        "likeness-audit",
        "likeness-s3",
        "likeness-minio-root",
        "likeness-c2pa",
        "likeness-ray-auth",
    }
    for name, key in references:
        if name == "likeness-db-app":
            # Created by CloudNativePG from the Cluster likeness-db.
            assert "likeness-db-app" in readme
            continue
        commands = [block for block in readme.split("create secret generic ")[1:] if block.split()[0] == name]
        assert commands, f"README does not create Secret {name}"
        command = commands[0].split("\n\n")[0]
        assert re.search(rf"--from-(literal|file)={re.escape(key)}=", command), (name, key)


def test_every_image_has_a_multi_stage_non_root_dockerfile() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    for overlay in OVERLAYS.values():
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        images = {image["name"] for image in kustomization["images"]}
        assert images == {f"likeness/{name}" for name in ("identity", "assets", "generator", "model")}
    for name in ("identity", "assets", "generator", "model"):
        dockerfile = (ROOT / "deploy" / "docker" / f"{name}.Dockerfile").read_text()
        assert len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2, name
        user = re.findall(r"^USER (\d+)(?::(\d+))?$", dockerfile, re.M)
        assert user and int(user[-1][0]) != 0, name
        for requested in re.findall(r"\[([a-z,]+)\]\"", dockerfile):
            assert set(requested.split(",")) <= extras, (name, requested)


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_the_model_pods_mount_only_volumes_they_declare(overlay: str) -> None:
    cluster = one(rendered(overlay), "RayService", "likeness-model")["spec"]["rayClusterConfig"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]]
    pods += [group["template"]["spec"] for group in cluster["workerGroupSpecs"]]
    for pod in pods:
        declared = {volume["name"] for volume in pod.get("volumes", [])}
        for container in pod["containers"] + pod.get("initContainers", []):
            mounted = {mount["name"] for mount in container.get("volumeMounts", [])}
            assert mounted <= declared, f"{container['name']} mounts {sorted(mounted - declared)}"


def test_a_prod_model_replica_uses_every_gpu_of_its_pod_and_caches_compiled_kernels() -> None:
    from likeness.generator.serve_app import VideoModelArgs

    objects = rendered("prod")
    (application,) = serve_config(objects)["applications"]
    args = VideoModelArgs.model_validate(application["args"])
    (deployment,) = application["deployments"]
    gpus = deployment["ray_actor_options"]["num_gpus"]
    (group,) = one(objects, "RayService", "likeness-model")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    worker = group["template"]["spec"]["containers"][0]
    assert args.num_gpus == gpus == int(worker["resources"]["limits"]["nvidia.com/gpu"])
    assert args.rank_count == gpus and args.compile and args.warmup_sizes
    environment = {variable["name"]: variable.get("value") for variable in worker["env"]}
    cache = environment["TORCHINDUCTOR_CACHE_DIR"]
    assert any(cache.startswith(mount["mountPath"]) for mount in worker["volumeMounts"])

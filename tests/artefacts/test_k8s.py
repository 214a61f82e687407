"""Kubernetes manifests: every overlay renders offline, validates strictly, and keeps its invariants."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from anpr.config import load_settings
from anpr.contract import MODELS
from tests.repo import ROOT, tool

K8S = ROOT / "k8s"
RULES = ROOT / "deploy" / "observability" / "recording_rules.yml"
OVERLAYS = ["cpu-dev", "gpu-prod"]


def render(overlay: str) -> list[dict]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def pod_specs(docs: list[dict]) -> list[tuple[str, dict]]:
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in docs if d["kind"] == "Deployment"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly_against_a_current_kubernetes(overlay: str, tmp_path: Path) -> None:
    rendered = tmp_path / f"{overlay}.yaml"
    rendered.write_text(yaml.safe_dump_all(render(overlay)))
    result = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", str(rendered)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_containers_have_probes_limits_and_pinned_images(overlay: str) -> None:
    for name, template in pod_specs(render(overlay)):
        spec = template["spec"]
        for container in spec["containers"]:
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{name}/{container['name']} has no {probe}"
        for container in spec["containers"] + spec.get("initContainers", []):
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), f"{name}/{container['name']}"
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_disruption_budgets_select_running_pods(overlay: str) -> None:
    docs = render(overlay)
    labels = [template["metadata"]["labels"] for _, template in pod_specs(docs)]
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(budgets) == 2
    for budget in budgets:
        wanted = budget["spec"]["selector"]["matchLabels"]
        assert any(wanted.items() <= pod.items() for pod in labels), budget["metadata"]["name"]


def test_gpu_prod_runs_triton_on_gpus_with_engines_built_in_an_init_container() -> None:
    docs = render("gpu-prod")
    triton = dict(pod_specs(docs))["triton"]["spec"]
    assert triton["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(t["key"] == "nvidia.com/gpu" for t in triton["tolerations"])
    assert [c["name"] for c in triton["initContainers"]] == ["model-repository", "build-engines"]
    assert "build_engines.sh" in " ".join(triton["initContainers"][1]["command"])
    assert {v["name"] for v in triton["volumes"]} >= {"models", "dshm"}
    args = " ".join(triton["containers"][0]["args"])
    exit_timeout = int(args.split("--exit-timeout-secs=")[1].split()[0])
    assert exit_timeout < triton["terminationGracePeriodSeconds"]


def test_autoscaling_metrics_exist() -> None:
    docs = render("gpu-prod")
    recorded = {rule["record"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    adapter = yaml.safe_load(
        next(d for d in docs if d["metadata"]["name"] == "anpr-prometheus-adapter-rules")["data"]["rules.yaml"]
    )
    exposed = {rule["name"]["as"]: rule["seriesQuery"] for rule in adapter["externalRules"]}
    hpas = {d["metadata"]["name"]: d for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert set(hpas) == {"triton", "anpr-frontend"}
    for metric in hpas["triton"]["spec"]["metrics"]:
        name = metric["external"]["metric"]["name"]
        assert exposed[name] in recorded, f"{name} is not backed by a recording rule"
    assert hpas["anpr-frontend"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rollouts_keep_capacity_and_the_front_end_config_is_valid(overlay: str, tmp_path: Path) -> None:
    docs = render(overlay)
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        strategy = deployment["spec"]["strategy"]
        assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0
        assert deployment["spec"]["minReadySeconds"] > 0
    # The mounted anpr.toml loads as the server would load it, and pins the model versions it asks for.
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap" and "anpr.toml" in d.get("data", {})]
    config = tmp_path / "anpr.toml"
    config.write_text(config_map["data"]["anpr.toml"])
    pinned = {"detector_version", "recogniser_version"}
    assert pinned <= set(tomllib.loads(config.read_text())["pipeline"])
    pipeline = load_settings(config).pipeline
    # The front ends ask for versions the overlay's Triton serves (its model-repository image tag names
    # the versions rendered into it, e.g. "1-2"), and that this repository ships.
    (tag,) = [
        container["image"].rsplit(":", 1)[1]
        for _, template in pod_specs(docs)
        for container in template["spec"].get("initContainers", [])
        if "/model-repository" in container["image"]
    ]
    served = {int(version) for version in tag.split("-")}
    assert {pipeline.detector_version, pipeline.recogniser_version} <= served, (tag, pipeline)
    for spec in MODELS:
        for version in served:
            assert (K8S.parent / "model_repository" / spec.name / str(version) / "model.onnx").exists()


IMAGES = K8S.parent / "deploy" / "images"
OUR_REGISTRY = "registry.example.com/"


def dockerfiles_by_image() -> dict[str, Path]:
    """Image name -> the Dockerfile that builds it (its `# image: NAME` header lines)."""
    return {
        line.split()[2]: dockerfile
        for dockerfile in IMAGES.glob("*.Dockerfile")
        for line in dockerfile.read_text().splitlines()
        if line.startswith("# image: ")
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_image_we_publish_has_a_dockerfile(overlay: str) -> None:
    built = dockerfiles_by_image()
    version = tomllib.loads((K8S.parent / "pyproject.toml").read_text())["project"]["version"]
    ours = 0
    for name, template in pod_specs(render(overlay)):
        spec = template["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            repository, tag = container["image"].rsplit(":", 1)
            if not repository.startswith(OUR_REGISTRY):
                continue
            ours += 1
            assert repository in built, f"{name}/{container['name']}: no Dockerfile builds {repository}"
            if repository.endswith("/frontend"):
                assert tag == version, "the front-end image tag is the package version"
    assert ours >= 2  # the front end and a model repository


def test_sizing_uses_the_manifests_autoscaling_and_gpu_prod_can_reach_the_planned_size() -> None:
    from anpr_benchmarks.sizing import (
        FRONTEND_CPUS_PER_POD,
        FRONTEND_TARGET_UTILISATION,
        TritonHpa,
        measure,
        plan,
    )

    docs = render("gpu-prod")
    hpas = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    triton, frontend = hpas["triton"], hpas["anpr-frontend"]
    up, down = triton["behavior"]["scaleUp"], triton["behavior"]["scaleDown"]
    assert TritonHpa() == TritonHpa(
        min_pods=triton["minReplicas"],
        max_pods=triton["maxReplicas"],
        up_window_s=up["stabilizationWindowSeconds"],
        up_pods=up["policies"][0]["value"],
        up_period_s=up["policies"][0]["periodSeconds"],
        down_window_s=down["stabilizationWindowSeconds"],
        down_pods=down["policies"][0]["value"],
        down_period_s=down["policies"][0]["periodSeconds"],
    )
    cpu_target = frontend["metrics"][0]["resource"]["target"]["averageUtilization"]
    assert cpu_target == round(FRONTEND_TARGET_UTILISATION * 100)
    container = next(spec for name, spec in pod_specs(docs) if name == "anpr-frontend")["spec"]["containers"][0]
    assert float(container["resources"]["requests"]["cpu"]) == FRONTEND_CPUS_PER_POD
    needed = plan(2300, 10, measure(K8S.parent / "benchmarks" / "results", frames=2))
    assert frontend["maxReplicas"] >= needed["frontend_pods"]
    if needed["gpus"] is not None:
        assert triton["maxReplicas"] >= needed["gpus"]


def _front_end_settings(docs: list[dict], tmp_path: Path):
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap" and "anpr.toml" in d.get("data", {})]
    config = tmp_path / "anpr.toml"
    config.write_text(config_map["data"]["anpr.toml"])
    return load_settings(config)


def _quantity_bytes(quantity: str) -> int:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    return int(quantity[:-2]) * units[quantity[-2:]] if quantity[-2:] in units else int(quantity)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_ingest_is_mutual_tls_and_the_triton_hop_is_tls_from_mounted_secrets(overlay: str, tmp_path: Path) -> None:
    docs = render(overlay)
    settings = _front_end_settings(docs, tmp_path)
    security = settings.security
    assert security.tls and security.client_ca_file and security.client_cert_required and security.policy_file
    assert security.triton_ca_file and security.triton_cert_file and settings.triton_url
    issued = {d["spec"]["secretName"] for d in docs if d["kind"] == "Certificate"}
    operators_own = {"anpr-ingest-ca"}  # the ingest clients' CA: referenced, documented in certificates.yaml
    pods = dict(pod_specs(docs))
    for deployment, files in (
        ("anpr-frontend", [p for p in security.model_dump().values() if isinstance(p, Path)]),
        ("triton", []),
    ):
        spec = pods[deployment]["spec"]
        (container,) = spec["containers"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        if deployment == "triton":
            args = container["args"]
            assert "--grpc-use-ssl-mutual=true" in args
            files = [Path(a.split("=", 1)[1]) for a in args if a.startswith(("--grpc-server-", "--grpc-root-cert"))]
            assert len(files) == 3
        for path in files:
            (volume,) = [volume for mount, volume in mounts.items() if str(path).startswith(mount + "/")]
            secret = volume.get("secret", {}).get("secretName")
            assert secret in issued | operators_own or "configMap" in volume, (deployment, path, volume)
    frontend = pods["anpr-frontend"]["spec"]["containers"][0]
    assert frontend["readinessProbe"]["grpc"]["port"] == settings.health_port  # probes cannot do TLS
    assert frontend["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor" and d["metadata"]["name"] == "anpr-frontend")
    assert monitor["spec"]["endpoints"][0]["scheme"] == "https"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_front_ends_memory_bound_fits_their_pod_limit(overlay: str, tmp_path: Path) -> None:
    """SECURITY.md's bound for the shipped limits, plus room for the process itself (134 MiB measured
    with no models; 512 MiB allowed), stays under the pod's memory limit: no OOM kill under attack."""
    from anpr.server import memory_bound_bytes

    docs = render(overlay)
    bound = memory_bound_bytes(_front_end_settings(docs, tmp_path))
    limit = _quantity_bytes(
        dict(pod_specs(docs))["anpr-frontend"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    )
    print(
        f"{overlay}: front-end memory bound {bound / 2**20:.0f} MiB + 512 MiB baseline, limit {limit / 2**20:.0f} MiB"
    )
    assert bound + 512 * 2**20 <= limit


def test_the_shipped_access_policy_loads_and_keeps_stats_for_operators(tmp_path: Path) -> None:
    from anpr.security.access import Rpc, read_policy

    docs = render("gpu-prod")
    (config_map,) = [d for d in docs if d["kind"] == "ConfigMap" and "access-policy.toml" in d.get("data", {})]
    path = tmp_path / "access-policy.toml"
    path.write_text(config_map["data"]["access-policy.toml"])
    policy = read_policy(path)
    ingest = [grant for name, grant in policy.identity.items() if name.startswith("ingest-")]
    assert ingest and all(
        Rpc.GET_STATS not in g.rpcs and g.camera_prefixes and "" not in g.camera_prefixes for g in ingest
    )
    assert any(Rpc.GET_STATS in grant.rpcs for grant in policy.identity.values())

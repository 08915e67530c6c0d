"""The KubeRay recipe (deploy/kuberay/, docs/ray.md) is valid YAML that names the image, the
resources and the command, and its pieces agree with each other and with the configs they run.
Nothing here talks to a Kubernetes cluster (none is at hand): see docs/ray.md, what was run."""
import json
import shlex
from pathlib import Path

import yaml

from bench import config

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kuberay"


def _load(name: str) -> dict:
    docs = list(yaml.safe_load_all((DEPLOY / name).read_text()))
    assert len(docs) == 1 and isinstance(docs[0], dict)
    return docs[0]


def _pods(cluster: dict) -> dict[str, dict]:
    spec = cluster["spec"]
    out = {"head": spec["headGroupSpec"]}
    out |= {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    return out


def _custom(group: dict) -> dict[str, float]:
    text = group["rayStartParams"].get("resources")
    return json.loads(json.loads(text)) if text else {}   # KubeRay's form: a quoted JSON string


def test_the_cluster_names_the_image_resources_and_results_volume():
    cluster, pvc = _load("raycluster.yaml"), _load("pvc.yaml")
    assert (cluster["apiVersion"], cluster["kind"]) == ("ray.io/v1", "RayCluster")
    assert pvc["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in pvc["spec"]["accessModes"]
    images = set()
    for name, group in _pods(cluster).items():
        pod = group["template"]["spec"]
        (c,) = pod["containers"]
        images.add(c["image"])
        assert c["resources"]["limits"]["cpu"] and c["resources"]["limits"]["memory"], name
        assert {"name": "results", "mountPath": "/app/results"} in c["volumeMounts"], name
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        assert claims == [pvc["metadata"]["name"]], name
    assert len(images) == 1 and next(iter(images)).endswith("/bench:latest")
    groups = _pods(cluster)
    assert groups["gpus"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert groups["gpus"]["rayStartParams"]["num-gpus"] == "1" and _custom(groups["gpus"]) == {"h100": 1}
    assert _custom(groups["clients"]) == {"client": 4}
    assert "nvidia.com/gpu" not in groups["clients"]["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_the_job_runs_a_valid_suite_over_the_cluster_with_resources_it_has():
    job, cluster = _load("rayjob.yaml"), _load("raycluster.yaml")
    assert (job["apiVersion"], job["kind"]) == ("ray.io/v1", "RayJob")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["bench", "run"] and "--ray" in argv
    assert argv[argv.index("--results-dir") + 1].startswith("/app/results/")
    submitter = job["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    assert submitter["image"] == cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    specs = config.load(ROOT / argv[2])        # the suite it runs validates
    gpu = _pods(cluster)["gpus"]
    for spec in specs:   # each run fits a GPU node: its custom resource and one GPU
        assert spec.resources.gpus <= float(gpu["rayStartParams"]["num-gpus"])
        assert set(spec.resources.custom) <= set(_custom(gpu))
        assert spec.server is not None and spec.backend.name == "openai"
    assert len({s.model for s in specs}) == 2   # two engines: two shares, in parallel on two GPU nodes


def test_the_fleet_load_puts_ray_actors_on_client_nodes():
    (spec,) = config.load(DEPLOY / "fleet-load.yaml")
    clients = _pods(_load("raycluster.yaml"))["clients"]
    assert spec.load.executor == "ray" and spec.load.workers == 8
    assert set(spec.load.ray.resources) <= set(_custom(clients))
    assert spec.load.ray.cpus <= float(clients["rayStartParams"]["num-cpus"])
    assert spec.backend.options["base_url"].startswith("http://") and spec.server is None

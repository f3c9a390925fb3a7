"""The Kubernetes experiments in chaos/kubernetes/: each passes `chaos validate`, uses the shared
workload, steady-state probes and checker, and names things (pods, policies, nodes, Chaos Mesh
resources) that exist in the kind overlay and the kind cluster. Running them needs a cluster:
.github/workflows/kind.yml does that."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from harness.chaos.k8s import without_egress_to
from harness.k8s import render
from harness.k8s.objects import matches, workloads
from harness.k8s.validate import validate_all
from harness.stack import kind

ROOT = render.ROOT
FOLDER = ROOT / "chaos" / "kubernetes"
EXPERIMENTS = sorted(FOLDER.glob("*.json"))
MESH = sorted((FOLDER / "chaos-mesh").glob("*.yaml"))
CHAOS = str(Path(sys.executable).parent / "chaos")


def activities(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *doc["steady-state-hypothesis"]["probes"],
        *doc["method"],
        *doc.get("rollbacks", []),
    ]


def calls(doc: dict[str, Any], func: str) -> list[dict[str, Any]]:
    return [
        a["provider"]["arguments"] for a in activities(doc) if a["provider"].get("func") == func
    ]


@pytest.fixture(scope="module")
def validated() -> dict[str, Result]:
    """`chaos validate` of every experiment: the command the `chaos` executable runs, invoked
    in this process, because a `chaos` process spends seconds importing the Kubernetes client
    before it validates anything (nine of them took over a minute here).
    test_chaos_validate_rejects_a_broken_experiment runs the executable itself."""
    with warnings.catch_warnings():
        # chaoslib imports pythonjsonlogger.jsonlogger, deprecated there: not ours to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        from chaostoolkit.__main__ import cli

        # The command configures the "chaostoolkit" logger with a handler on the stream it was
        # given; put the logger back as it was, so that no later test logs to a closed stream.
        logger = logging.getLogger("chaostoolkit")
        saved = (logger.handlers[:], logger.filters[:], logger.level, logger.propagate)
        try:
            runner = CliRunner()
            return {
                p.stem: runner.invoke(
                    cli, ["--no-version-check", "--no-log-file", "validate", str(p)]
                )
                for p in EXPERIMENTS
            }
        finally:
            logger.handlers[:], logger.filters[:] = saved[0], saved[1]
            logger.setLevel(saved[2])
            logger.propagate = saved[3]


def test_the_four_kinds_of_fault_are_covered() -> None:
    names = {p.stem for p in EXPERIMENTS}
    assert {
        f"{s}-pods-terminated" for s in ("gateway", "segmentation", "runner", "archive")
    } <= names
    assert {"runner-scaled-to-zero", "runner-nats-egress-denied", "worker-node-drained"} <= names
    assert {"nats-latency", "opensearch-packet-loss"} <= names


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_chaos_validate(validated: dict[str, Result], path: Path) -> None:
    out = validated[path.stem]
    assert out.exit_code == 0, f"chaos validate {path.name} failed:\n{out.output}"
    assert "experiment syntax and semantic look valid" in out.output


def test_chaos_validate_rejects_a_broken_experiment(tmp_path: Path) -> None:
    """The validation is not a formality: an activity naming a function that does not exist
    fails it."""
    doc = json.loads((FOLDER / "runner-scaled-to-zero.json").read_text())
    doc["method"][1]["provider"]["func"] = "scale_deployments"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc))
    out = subprocess.run(
        [CHAOS, "--no-version-check", "--no-log-file", "validate", str(broken)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode != 0
    assert "scale_deployments" in out.stdout + out.stderr


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_shares_the_workload_probes_and_checker(path: Path) -> None:
    doc = json.loads(path.read_text())
    probes = {p["provider"]["func"] for p in doc["steady-state-hypothesis"]["probes"]}
    assert {"stack_healthy", "command_roundtrip_ok", "history_verdict"} <= probes
    assert [a["name"] for a in calls(doc, "history_verdict")] == [path.stem]
    (workload,) = [a for a in doc["method"] if a["provider"].get("func") == "run_workload"]
    assert workload.get("background") is True
    assert workload["provider"]["module"] == "harness.chaos.actions"
    assert workload["provider"]["arguments"]["name"] == path.stem
    assert "kubernetes" in doc["tags"]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_names_what_exists(path: Path, renders: dict[str, render.Rendered]) -> None:
    """Pod label selectors select pods of the kind overlay, policies and workloads exist, drained
    nodes exist in the kind cluster, Chaos Mesh files exist and are deleted by their name."""
    doc = json.loads(path.read_text())
    objects = renders["overlay kind"].objects
    pods = [w.labels for w in workloads(objects)]
    for args in calls(doc, "terminate_pods"):
        key, _, value = args["label_selector"].partition("=")
        assert any(p.get(key) == value for p in pods), f"{args['label_selector']} selects no pod"
        assert args["ns"] == kind.NAMESPACE
    names = {(o["kind"].lower(), o["metadata"]["name"]) for o in objects}
    for args in calls(doc, "rollout_complete") + calls(doc, "scale_deployment"):
        assert (args.get("kind", "deployment"), args["name"]) in names, args
    for args in calls(doc, "deny_egress") + calls(doc, "restore_network_policy"):
        (policy,) = [
            o
            for o in objects
            if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == args["policy"]
        ]
        if "to" in args:
            assert without_egress_to(policy["spec"], args["to"]) != policy["spec"], (
                "nothing to deny"
            )
    nodes = yaml.safe_load(kind.KIND_CONFIG.read_text())["nodes"]
    for args in calls(doc, "drain_node") + calls(doc, "uncordon_node"):
        key, _, value = args["label_selector"].partition("=")
        assert sum(n.get("labels", {}).get(key) == value for n in nodes) == 1, args
    created = calls(doc, "create_custom_object")
    deleted = {a["name"] for a in calls(doc, "delete_custom_object")}
    for args in created:
        resource = yaml.safe_load((ROOT / args["resource_as_yaml_file"]).read_text())
        assert resource["metadata"]["name"] in deleted, "created but never deleted"
        assert resource["metadata"]["namespace"] == args["ns"]


@pytest.mark.parametrize("path", MESH, ids=[p.stem for p in MESH])
def test_chaos_mesh_resource_is_valid_and_targets_pods(
    path: Path, renders: dict[str, render.Rendered]
) -> None:
    resource = yaml.safe_load(path.read_text())
    assert not validate_all([resource]), validate_all([resource])
    pods = [w.labels for w in workloads(renders["overlay kind"].objects)]
    spec = resource["spec"]
    for selector in (spec["selector"], spec["target"]["selector"]):
        assert any(matches({"matchLabels": selector["labelSelectors"]}, p) for p in pods), selector


def test_deny_egress_keeps_every_other_rule() -> None:
    spec = {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "runner"}},
        "policyTypes": ["Ingress", "Egress"],
        "egress": [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "nats"}}}],
                "ports": [{"port": 4222}],
            },
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}}}],
                "ports": [{"port": 5432}],
            },
            {
                "to": [
                    {
                        "podSelector": {
                            "matchExpressions": [
                                {
                                    "key": "app.kubernetes.io/name",
                                    "operator": "In",
                                    "values": ["nats"],
                                }
                            ]
                        }
                    },
                    {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "opensearch"}}},
                ]
            },
        ],
    }
    original = copy.deepcopy(spec)
    cut = without_egress_to(spec, "nats")
    assert spec == original, "the input is not modified"
    assert cut["egress"] == [
        original["egress"][1],
        {"to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "opensearch"}}}]},
    ]
    assert cut["policyTypes"] == ["Ingress", "Egress"], "egress stays isolated (no rule = deny)"

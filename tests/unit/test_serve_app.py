"""The Serve application builder that the RayService's serveConfigV2 names."""

from __future__ import annotations

import importlib
from pathlib import Path

import pydantic
import pytest
import yaml

from likeness.generator.serve_app import DEPLOYMENT_NAME, VideoModelArgs, app

ROOT = Path(__file__).resolve().parents[2]


def test_the_manifests_import_path_is_the_builder_and_its_args_validate() -> None:
    manifest = (ROOT / "deploy" / "k8s" / "base" / "model.yaml").read_text()
    service = next(doc for doc in yaml.safe_load_all(manifest) if doc["kind"] == "RayService")
    (application,) = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    module, _, attribute = application["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), attribute)
    assert builder is app
    bound = builder(application["args"])
    deployment = bound._bound_deployment
    assert deployment.name == application["deployments"][0]["name"] == DEPLOYMENT_NAME
    assert VideoModelArgs.model_validate(application["args"]).variant == "a14b"


def test_replica_settings_reach_the_deployment() -> None:
    deployment = app(
        {"variant": "tiny", "num_replicas": 2, "max_queued_requests": 3, "num_gpus": 2, "num_cpus": 4}
    )._bound_deployment
    assert deployment.num_replicas == 2
    assert deployment.max_ongoing_requests == 1
    assert deployment.max_queued_requests == 3
    assert deployment.ray_actor_options == {"num_cpus": 4, "num_gpus": 2}


def test_unknown_or_bad_args_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        app({"variant": "a14b", "modeldir": "/models"})
    with pytest.raises(pydantic.ValidationError):
        app({"variant": "huge"})

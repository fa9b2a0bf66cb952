"""A Job of a deployment with a ConfigMap of pandas transform modules mounts it
read-only and puts it on the transforms' import path (README: Your own pandas step)."""

from __future__ import annotations

import json

from api.runners.k8s_job import TRANSFORMS_MOUNT, build_job
from core.settings import Settings
from tests.kube.test_job_spec import SETTINGS, dataset


def test_the_transforms_config_map_is_mounted_and_on_the_path() -> None:
    k = SETTINGS.model_copy(update={"transforms_config_map": "mini-transforms"})
    job = build_job(dataset(transform="line-total"), k)
    pod = job.spec.template.spec
    (volume,) = [v for v in pod.volumes if v.config_map is not None]
    assert volume.config_map.name == "mini-transforms"
    (container,) = pod.containers
    (mount,) = [m for m in container.volume_mounts if m.name == volume.name]
    assert mount.mount_path == TRANSFORMS_MOUNT and mount.read_only is True
    env = {e.name: e.value for e in container.env}
    assert json.loads(env["MINI_PROCESSOR__TRANSFORMS_PATH"]) == [TRANSFORMS_MOUNT]
    # The processor reads that variable as it is set here.
    parsed = Settings.model_validate({"processor": {"transforms_path": [TRANSFORMS_MOUNT]}})
    assert [str(p) for p in parsed.processor.transforms_path] == [TRANSFORMS_MOUNT]
    # The chosen name travels in the options, as every upload option does.
    assert '"transform": "line-total"' in " ".join(container.command)


def test_without_it_nothing_is_mounted() -> None:
    pod = build_job(dataset(), SETTINGS).spec.template.spec
    assert [v.name for v in pod.volumes] == ["tmp"]
    names = [e.name for e in pod.containers[0].env]
    assert "MINI_PROCESSOR__TRANSFORMS_PATH" not in names

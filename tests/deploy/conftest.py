from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.kube import KubeControlPlane

from .manifests import Manifest, parse, render


@pytest.fixture(scope="module")
def kube() -> Iterator[KubeControlPlane]:
    """A real control plane per module: the modules here create and delete the
    deployment's namespace, so they keep out of each other's (and the runner
    tests') way."""
    with KubeControlPlane() as plane:
        yield plane


@pytest.fixture(scope="session")
def rendered_text() -> str:
    return render()


@pytest.fixture(scope="session")
def rendered(rendered_text: str) -> list[Manifest]:
    return parse(rendered_text)

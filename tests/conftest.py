from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.kube import KubeControlPlane
from tests.servers.postgres import PostgresServer
from tests.servers.seaweed import SeaweedS3


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    """The real S3 server (SeaweedFS), one per test session, credentials enforced."""
    with SeaweedS3() as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's package), one throwaway cluster per test session."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def kube() -> Iterator[KubeControlPlane]:
    """A real Kubernetes control plane (etcd, apiserver, controllers, scheduler, a kwok node)."""
    with KubeControlPlane() as control_plane:
        yield control_plane


def s3_env(server: SeaweedS3, **extra: str) -> dict[str, str]:
    """MINI_* variables that point the service at `server`."""
    return {
        "MINI_STORAGE__BACKEND": "s3",
        "MINI_STORAGE__ENDPOINT": server.endpoint,
        "MINI_STORAGE__ACCESS_KEY": server.access_key,
        "MINI_STORAGE__SECRET_KEY": server.secret_key,
        "MINI_STORAGE__SECURE": "false",
        **extra,
    }

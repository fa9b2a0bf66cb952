"""The fork server builds the settings once; a child reuses them only while the
environment it would read them from is the same."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import processor.__main__ as cli


@pytest.fixture(autouse=True)
def _forget() -> Iterator[None]:
    yield
    cli._BUILT = None


def test_a_child_reuses_the_servers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINI_PORT", "8123")
    built = cli.prebuild_settings()
    assert cli.settings_from_env() is built
    assert built.port == 8123


@pytest.mark.parametrize("name", ["MINI_PORT", "mini_port"])
def test_a_changed_environment_builds_them_again(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("MINI_PORT", "8123")
    built = cli.prebuild_settings()
    monkeypatch.delenv("MINI_PORT")
    monkeypatch.setenv(name, "8124")
    fresh = cli.settings_from_env()
    assert fresh is not built
    assert fresh.port == 8124


def test_without_a_server_each_run_builds_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINI_PORT", "8125")
    assert cli.settings_from_env().port == 8125
    assert cli.settings_from_env() is not cli.settings_from_env()

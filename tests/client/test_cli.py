"""The `mini-pipeline` command against a live API (issue 15, part 3): upload with --wait,
a failing file's exit code, rows filters equal to the API's answer, downloads equal to
the stored object, and the Python client underneath."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from client import Client, DatasetFailed
from tests.servers.api import ApiServer, wait_final

ROOT = Path(__file__).resolve().parents[2]
SALES = ROOT / "examples" / "sales.csv"
CLI = Path(sys.executable).with_name("mini-pipeline")
# A field longer than the server's MINI_MAX_FIELD_BYTES fails processing.
MAX_FIELD_BYTES = 4096
BROKEN = b"a,b\n1," + b"x" * (2 * MAX_FIELD_BYTES) + b"\n2,y\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {"MINI_MAX_FIELD_BYTES": str(MAX_FIELD_BYTES)}
    with ApiServer(tmp_path_factory.mktemp("api-cli"), env=env) as server:
        yield server


def run(api: ApiServer, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINI_URL": api.url, "COLUMNS": "200"}
    env.pop("MINI_API_KEY", None)
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def stored(api: ApiServer, version_id: str, name: str = "data.parquet") -> bytes:
    return (api.data_dir / "objects" / "processed" / version_id / name).read_bytes()


@pytest.fixture(scope="module")
def sales(api: ApiServer) -> dict[str, Any]:
    done = run(api, "--json", "upload", str(SALES), "--name", "sales", "--wait")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_upload_with_wait_ends_with_the_summary(api: ApiServer, sales: dict[str, Any]) -> None:
    assert sales["status"] == "ready" and sales["name"] == "sales" and sales["version"] == 1
    with httpx.Client(base_url=api.url) as http:
        status = http.get(f"/datasets/{sales['id']}/status").json()
    assert (sales["rows_in"], sales["rows_out"], sales["rows_rejected"]) == (
        status["rows_in"],
        status["rows_out"],
        status["rows_rejected"],
    )
    # Without --json: the byte bar and the summary on stderr.
    again = run(api, "upload", str(SALES), "--name", "sales", "--wait")
    assert again.returncode == 0, again.stderr
    assert (
        "sales.csv" in again.stderr
        and f"{SALES.stat().st_size}/{SALES.stat().st_size}" in again.stderr
    )
    assert f"sales v2: ready, {status['rows_out']} rows kept of {status['rows_in']}" in again.stderr


def test_a_failing_file_exits_non_zero(api: ApiServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(BROKEN)
    done = run(api, "upload", str(broken), "--name", "broken", "--wait")
    assert done.returncode == 1
    assert "broken v1: failed:" in done.stderr and "MINI_MAX_FIELD_BYTES" in done.stderr
    # Without --wait the upload itself succeeded: exit 0.
    assert run(api, "upload", str(broken), "--name", "broken").returncode == 0
    # Rows of a failed version: the API's 409, exit 1.
    rows = run(api, "rows", "broken", "--version", "1")
    assert rows.returncode == 1 and "dataset_failed" in rows.stderr


def test_rows_filters_equal_the_api(api: ApiServer, sales: dict[str, Any]) -> None:
    query = {"city": "Oslo", "total__gt": "100", "sort": "-total", "columns": "order_id,total"}
    with httpx.Client(base_url=api.url) as http:
        expected = http.get("/datasets/sales", params=query).json()
    assert expected["rows"], expected
    done = run(
        api,
        "rows",
        "sales",
        "-w",
        "city=Oslo",
        "-w",
        "total__gt=100",
        "--sort",
        "-total",
        "--columns",
        "order_id,total",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["rows"] == expected["rows"]
    assert got["total_rows"] == expected["total_rows"] and got["columns"] == expected["columns"]
    as_csv = run(
        api, "rows", "sales", "-w", "city=Oslo", "--columns", "order_id", "--format", "csv"
    )
    lines = list(csv.reader(io.StringIO(as_csv.stdout)))
    with httpx.Client(base_url=api.url) as http:
        oslo = http.get("/datasets/sales", params={"city": "Oslo", "columns": "order_id"}).json()
    assert lines == [["order_id"], *[[r["order_id"]] for r in oslo["rows"]]]
    table = run(api, "rows", "sales", "--limit", "3")
    assert table.returncode == 0 and "order_id" in table.stdout and "3 of" in table.stderr
    # --all follows the cursors from --offset on: every row after the first three.
    with httpx.Client(base_url=api.url) as http:
        everything = http.get("/datasets/sales", params={"sort": "order_id", "limit": 1000})
    ids = [r["order_id"] for r in everything.json()["rows"]]
    for extra, expected_ids in (([], ids), (["--offset", "3"], ids[3:])):
        every = run(
            api, "rows", "sales", "--sort", "order_id", "--limit", "2", "--all", *extra,
            "--format", "json",
        )  # fmt: skip
        assert every.returncode == 0, every.stderr
        assert [r["order_id"] for r in json.loads(every.stdout)["rows"]] == expected_ids
    # An unknown column: the API's 422 message, exit 1.
    bad = run(api, "rows", "sales", "-w", "nope=1")
    assert bad.returncode == 1 and "nope" in bad.stderr


def test_download_equals_the_stored_object(
    api: ApiServer, sales: dict[str, Any], tmp_path: Path
) -> None:
    version_id = sales["id"]
    done = run(
        api, "download", version_id, "--format", "parquet", "-o", str(tmp_path / "s.parquet")
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "s.parquet").read_bytes() == stored(api, version_id)
    # The default file name: NAME-vN.FORMAT, in the current folder; CSV as the API gives it.
    done = run(api, "download", "sales", "--version", "1", "--format", "csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with httpx.Client(base_url=api.url) as http:
        expected = http.get(f"/datasets/{version_id}/download?format=csv").content
    assert (tmp_path / "sales-v1.csv").read_bytes() == expected
    assert "sales-v1.csv" in done.stderr and f"saved sales-v1.csv ({len(expected)} bytes)" in (
        done.stderr
    )
    jsonl = tmp_path / "oslo.jsonl"
    done = run(
        api, "download", version_id, "--format", "jsonl", "-w", "city=Oslo", "-o", str(jsonl)
    )
    assert done.returncode == 0, done.stderr
    with httpx.Client(base_url=api.url) as http:
        query = {"format": "jsonl", "city": "Oslo"}
        oslo = http.get(f"/datasets/{version_id}/download", params=query).content
    assert oslo and jsonl.read_bytes() == oslo
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.num_rows == sales["rows_out"]


def test_ls_show_versions_logs_reprocess_rm(api: ApiServer, sales: dict[str, Any]) -> None:
    listed = json.loads(run(api, "--json", "ls").stdout)
    assert "sales" in {d["name"] for d in listed}
    shown = run(api, "show", "sales", "--version", "1")
    assert shown.returncode == 0 and "sales" in shown.stdout and "order_id" in shown.stdout
    assert "version 1" in shown.stdout
    versions = json.loads(run(api, "--json", "versions", "sales").stdout)
    assert [v["version"] for v in versions["versions"]][:1] == [1]
    logs = run(api, "logs", sales["id"])
    assert logs.returncode == 0 and f"processing dataset {sales['id']}" in logs.stdout
    again = run(api, "--json", "reprocess", "sales", "--version", "1", "--wait")
    assert again.returncode == 0, again.stderr
    redone = json.loads(again.stdout)
    assert redone["status"] == "ready" and redone["version"] > 1
    gone = run(api, "rm", "sales", "--version", str(redone["version"]), "--yes")
    assert gone.returncode == 0, gone.stderr
    with httpx.Client(base_url=api.url) as http:
        assert http.get(f"/datasets/{redone['id']}/status").status_code == 404
    missing = run(api, "show", "no-such-dataset")
    assert missing.returncode == 1 and "404" in missing.stderr


def test_completion_and_env_defaults(api: ApiServer) -> None:
    script = run(api, "completion", "bash")
    assert script.returncode == 0 and "_MINI_PIPELINE_COMPLETE" in script.stdout
    # What that script asks the command for when TAB is pressed: commands, then choices.
    for words, cword, expected in (
        ("mini-pipeline up", "1", {"upload"}),
        ("mini-pipeline rows sales --format ", "4", {"table", "json", "csv"}),
    ):
        env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": cword}
        env["_MINI_PIPELINE_COMPLETE"] = "bash_complete"
        done = subprocess.run([str(CLI)], capture_output=True, text=True, env=env)
        assert {line.split(",", 1)[1] for line in done.stdout.splitlines()} == expected
    unreachable = subprocess.run(
        [str(CLI), "--url", "http://127.0.0.1:9", "ls"], capture_output=True, text=True
    )
    assert unreachable.returncode == 1 and "cannot reach the API" in unreachable.stderr


def test_the_python_client(api: ApiServer, sales: dict[str, Any]) -> None:
    seen: list[int] = []
    with Client(api.url) as mp:
        created = mp.upload(SALES, name="py", progress=lambda done, _total: seen.append(done))
        assert seen[-1] == SALES.stat().st_size
        final = mp.wait(created["id"])
        assert final["status"] == "ready"
        rows = list(mp.iter_rows("py", page_size=5, sort="order_id"))
        assert len(rows) == final["rows_out"]
        with httpx.Client(base_url=api.url) as http:
            assert rows == http.get("/datasets/py?sort=order_id&limit=1000").json()["rows"]
        buf = io.BytesIO()
        mp.download("py", buf, format="parquet")
        assert buf.getvalue() == stored(api, final["id"])
        with pytest.raises(DatasetFailed):
            broken = mp.upload(io_file(api, BROKEN), name="py-broken")
            wait_final(httpx.Client(base_url=api.url), broken["id"])
            mp.rows("py-broken", version=1)


def io_file(api: ApiServer, body: bytes) -> Path:
    path = api.data_dir / "broken-upload.csv"
    path.write_bytes(body)
    return path


def test_without_the_cli_extra_the_command_says_what_to_install() -> None:
    # `make run` installs the console script but not click and rich: no traceback.
    code = "import sys; sys.modules['rich'] = None; from client.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "ls"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "needs the cli extra (rich is not installed)" in done.stderr
    assert "pip install -e '.[cli]'" in done.stderr


def test_api_keys_from_the_option_or_the_environment(tmp_path: Path) -> None:
    env = {"MINI_API_KEYS": "s3cret-key-for-the-cli-test"}
    with ApiServer(tmp_path / "keyed", env=env) as keyed:
        refused = run(keyed, "ls")
        assert refused.returncode == 1 and "401" in refused.stderr
        by_option = run(keyed, "--api-key", "s3cret-key-for-the-cli-test", "--json", "ls")
        assert by_option.returncode == 0, by_option.stderr
        assert json.loads(by_option.stdout) == []
        by_env = subprocess.run(
            [str(CLI), "--json", "upload", str(SALES), "--name", "keyed", "--wait"],
            capture_output=True,
            text=True,
            env={**os.environ, "MINI_URL": keyed.url, "MINI_API_KEY": env["MINI_API_KEYS"]},
            timeout=300,
        )
        assert by_env.returncode == 0, by_env.stderr
        assert json.loads(by_env.stdout)["status"] == "ready"


def test_the_readme_pandas_example_runs(api: ApiServer) -> None:
    # README, From the terminal, "In Python": as written, against this server.
    readme = (ROOT / "README.md").read_text()
    after = readme.split("**In Python**", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    assert "http://127.0.0.1:8000" in code and "read_parquet" in code
    code = code.replace("http://127.0.0.1:8000", api.url)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert done.returncode == 0, done.stderr
    # df.groupby("city")["total"].sum(): one line per city of examples/sales.csv.
    assert "Oslo" in done.stdout and "Name: total" in done.stdout

"""The OpenAPI schema describes what the live API answers: schemathesis (fixed seed,
bounded examples) finds no server error and no status, content type, body, header or
`Allow` that the schema does not document."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.openapi import EXAMPLE_DATASET
from tests.servers.api import ApiServer, wait_final

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
)
SEED = "20261205"
MAX_EXAMPLES = "5"


@pytest.fixture(scope="module")
def fuzzed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {"MINI_RUNNER__MAX_PARALLEL": "2"}
    with ApiServer(tmp_path_factory.mktemp("api-openapi"), env) as server:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            # The schema's example dataset exists, so examples reach real answers.
            csv = b"id,city,amount\n1,Oslo,120.5\n2,Bergen,80\n"
            r = c.post("/upload", params={"name": EXAMPLE_DATASET}, files={"file": ("s.csv", csv)})
            assert wait_final(c, r.json()["id"])["status"] == "ready"
        yield server


def test_schema_documents_the_upload_body_and_statuses(fuzzed_api: ApiServer) -> None:
    schema = httpx.get(f"{fuzzed_api.url}/openapi.json").json()
    upload = schema["paths"]["/upload"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data", "text/csv"}
    assert {"202", "408", "413", "415", "422", "503", "507"} <= set(upload["responses"])
    rows = schema["paths"]["/datasets/{dataset_id}"]["get"]["responses"]
    assert {"200", "202", "304", "404", "409", "422", "503"} <= set(rows)
    logs = schema["paths"]["/datasets/{dataset_id}/logs"]["get"]["responses"]["200"]
    assert list(logs["content"]) == ["text/plain"]
    download = schema["paths"]["/datasets/{dataset_id}/download"]["get"]["responses"]["200"]
    assert set(download["content"]) == {
        "text/csv",
        "application/x-ndjson",
        "application/vnd.apache.parquet",
    }


def test_schemathesis_finds_no_server_error_and_no_mismatch(
    fuzzed_api: ApiServer, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{fuzzed_api.url}/openapi.json",
            "--checks",
            ",".join(CHECKS),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            SEED,
            "--max-examples",
            MAX_EXAMPLES,
            "--workers",
            "1",
            "--request-timeout",
            "30",
            # A budget, so make test stays bounded whatever the machine's load.
            "--max-time",
            "180",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # Its cache (.schemathesis/) stays out of the repository.
        cwd=tmp_path,
    )
    out = done.stdout + done.stderr
    summary = re.search(r"(\d+) generated, (.*)", out)
    print(f"\nschemathesis (seed {SEED}, {MAX_EXAMPLES} examples): {summary and summary.group(0)}")
    assert done.returncode == 0, out[-6000:]
    assert "Tested: 16" in out or "Tested:" in out
    log = fuzzed_api.log_tail(2000)
    assert "Traceback" not in log, log[-4000:]

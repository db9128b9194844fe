"""The secrets scan of every run (tests/secret_scan.py) catches what it must: a run of a few tests
that leak planted secrets into logs and responses fails, naming each leak by kind, place and test
without printing the secret; the same run without the leaks passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

LEAKY = '''
import asyncio
import json
import logging

import httpx

from tests.secret_scan import SCANNER, plant

TOKEN = plant("integration token", "tok-planted-inner-7f3a9c51")
LEAK = {leak}


class Stub:
    valid_keys = {{"sk-inner-byok-0a1b2c3d4e"}}


async def app(scope, receive, send):
    """/keys issues a key; /register is 201; /echo answers its query in 5-byte chunks, /header in a header."""
    while (await receive()).get("more_body"):
        pass
    out, path = scope["query_string"], scope["path"]
    if path == "/keys":
        out = json.dumps({{"api_key": "efofx_" + "K" * 43}}).encode()
    headers = [(b"x-echo", out)] if path == "/header" else []
    await send({{"type": "http.response.start", "status": 201 if path == "/register" else 200, "headers": headers}})
    chunks = [out[i:i + 5] for i in range(0, len(out), 5)] if path != "/header" else []
    for chunk in chunks:  # a secret cut in two is still found
        await send({{"type": "http.response.body", "body": chunk, "more_body": True}})
    await send({{"type": "http.response.body", "body": b""}})


def call(*requests):
    async def main():
        client = SCANNER.watch(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t"))
        async with client:
            return [await client.request(*r[:2], **r[2]) for r in requests]
    return asyncio.run(main())


def test_a_log_message():
    logging.getLogger("inner.sync").warning("connecting with %s", TOKEN if LEAK else "***")


def test_an_exception_in_a_log():
    try:
        raise RuntimeError(f"refused {{TOKEN if LEAK else 'a token'}}")
    except RuntimeError:
        logging.getLogger("inner.errors").exception("sync failed")


def test_an_issued_key_in_a_log_and_a_public_one():
    log = logging.getLogger("inner.keys")
    log.setLevel(logging.INFO)
    log.info("made %s", "efofx_" + ("A" * 43 if LEAK else "…AAAA"))
    log.info("the page uses efofx_pk_%s", "B" * 43)  # publishable: public by design


def test_responses():
    SCANNER.watch_stub(stub := Stub())
    stub.valid_keys = {{"sk-inner-byok-0a1b2c3d4e"}}  # set later, as tests do
    byok, password = "sk-inner-byok-0a1b2c3d4e", "Inner-Pa55word-x9"
    query = {{"a": password, "b": byok}} if LEAK else {{"a": "nothing"}}
    (keys, reg, echo, header) = call(("GET", "/keys", {{}}),  # an issued key, in the response that issues it
                                     ("POST", "/register", {{"json": {{"password": password}}}}),
                                     ("GET", "/echo", {{"params": query}}),
                                     ("GET", "/header", {{"params": {{"b": byok}} if LEAK else {{}}}}))
    assert keys.json()["api_key"].startswith("efofx_") and reg.status_code == 201
    assert (password in echo.text) == LEAK and (byok in header.headers.get("x-echo", "")) == LEAK
'''


def _run(tmp_path: Path, leak: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q\n")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.secret_scan"]\n')
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(LEAKY.format(leak=leak)))
    # Only this plugin: the installed ones (fuzzing, browsers...) would take seconds to load.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_run_that_leaks_fails_and_names_each_leak(tmp_path: Path) -> None:
    run = _run(tmp_path, leak=True)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "4 passed" in out, out  # the tests passed: the scan failed the run
    found = sorted(line for line in out.splitlines() if " in log " in line or " in response " in line)
    assert found == sorted([
        "API key (efof...) in log inner.keys [test_inner.py::test_an_issued_key_in_a_log_and_a_public_one]",
        "integration token (tok-...) in log inner.errors [test_inner.py::test_an_exception_in_a_log]",
        "integration token (tok-...) in log inner.sync [test_inner.py::test_a_log_message]",
        "password (Inne...) in response GET /echo 200 [test_inner.py::test_responses]",
        "BYOK key (sk-i...) in response GET /echo 200 [test_inner.py::test_responses]",
        "BYOK key (sk-i...) in response GET /header 200 [test_inner.py::test_responses]",
    ]), out
    assert "6 finding(s)" in out and "the run fails" in out
    for secret in ("tok-planted-inner-7f3a9c51", "Inner-Pa55word-x9", "sk-inner-byok-0a1b2c3d4e", "A" * 43):
        assert secret not in out


def test_the_same_run_without_leaks_passes(tmp_path: Path) -> None:
    run = _run(tmp_path, leak=False)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "4 passed" in out and "secret scan: no planted secret" in out, out
    counts = re.search(r"in (\d+) log records and (\d+) responses", out)
    assert counts and int(counts[1]) >= 4 and counts[2] == "4", out  # the scan saw them all

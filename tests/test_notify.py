"""Run notifications through apprise, received on a loopback HTTP endpoint."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from uhecr import notify

ROOT = Path(__file__).resolve().parents[1]
CFG = {"env_var": "UHECR_NOTIFY_URLS", "urls": [], "events": ["start", "success", "error"]}

SNAKEMAKE_LOG = """\
Error in rule simulate:
    message: None
    jobid: 3
    output: /r/raw/helium_00.root
    log: /r/logs/simulate/helium_00.log (check log file(s) for error details)
Logfile /r/logs/simulate/helium_00.log:
Error in rule evaluate:
    jobid: 9
    log: /r/logs/evaluate/svm.log, /r/logs/evaluate/svm.extra.log
"""


def test_targets_come_from_the_environment_and_the_config_once_each():
    env = {"UHECR_NOTIFY_URLS": "json://a.example/x\n ntfy://topic  json://a.example/x"}
    cfg = {**CFG, "urls": ["ntfy://topic", "mailto://b.example?to=a@x.org,b@y.org"]}
    assert notify.targets(cfg, env) == [
        "json://a.example/x",
        "ntfy://topic",
        "mailto://b.example?to=a@x.org,b@y.org",  # a comma belongs to the URL
    ]
    assert notify.targets(CFG, {}) == []  # off by default


def test_a_missing_or_failing_apprise_never_raises(monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_apprise(name, *args, **kwargs):
        if name == "apprise":
            raise ImportError("no apprise here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("UHECR_NOTIFY_URLS", "json://127.0.0.1:9/x")
    monkeypatch.setattr(builtins, "__import__", no_apprise)
    with caplog.at_level("WARNING"):
        assert notify.send("start", CFG, "quick", "/r") is False
    assert "ImportError" in caplog.text


def test_failure_message_names_each_failed_rule_and_its_log(tmp_path):
    log = tmp_path / "snakemake.log"
    log.write_text(SNAKEMAKE_LOG)
    assert notify.failed_jobs(log) == [
        {"rule": "simulate", "logs": ["/r/logs/simulate/helium_00.log"]},
        {
            "rule": "evaluate",
            "logs": ["/r/logs/evaluate/svm.log", "/r/logs/evaluate/svm.extra.log"],
        },
    ]
    title, body = notify.message("error", "quick", "/r", log)
    assert "FAILED" in title
    assert "failed rule simulate, log: /r/logs/simulate/helium_00.log" in body
    assert str(log) in body
    with pytest.raises(ValueError, match="unknown notification event"):
        notify.message("finished", "quick", "/r")


class _Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length", 0))
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    from conftest import free_port

    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver.received
    server.shutdown()


def _run(tmp_path, target, url, extra_env=None):
    results = tmp_path / "results"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"results_dir": str(results)}))
    env = {**os.environ, "UHECR_NOTIFY_URLS": url, **(extra_env or {})}
    command = [sys.executable, "-m", "snakemake", str(results / target), "--cores", "1"]
    command += ["--retries", "0", "--configfile", "config/quick.yaml", str(overlay)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=900)


@pytest.mark.slow
@pytest.mark.workflow  # runs Snakemake jobs
def test_a_run_sends_start_and_success_and_a_failure_names_the_rule(tmp_path, receiver):
    server, received = receiver
    url = f"json://127.0.0.1:{server.server_port}/hook?token=secret-token-123"
    out = _run(tmp_path, "raw/proton_00.root", url)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [m["title"] for m in received] == [
        "uhecr run 'quick' started",
        "uhecr run 'quick' finished",
    ]
    assert f"results: {tmp_path / 'results'}" in received[1]["message"]
    assert "make report" in out.stdout + out.stderr  # where the report and the UIs are
    assert "secret-token-123" not in out.stdout + out.stderr  # tokens are never printed

    received.clear()
    markers = tmp_path / "markers"
    out = _run(tmp_path, "raw/helium_00.root", url, {"UHECR_FAIL_ONCE": f"simulate:{markers}"})
    assert out.returncode != 0
    assert [m["title"] for m in received] == [
        "uhecr run 'quick' started",
        "uhecr run 'quick' FAILED",
    ]
    body = received[1]["message"]
    log = tmp_path / "results" / "logs" / "simulate" / "helium_00.log"
    assert f"failed rule simulate, log: {log}" in body
    assert log.exists()
    # Nothing computed is lost: the first file is still there.
    assert (tmp_path / "results" / "raw" / "proton_00.root").stat().st_size > 0

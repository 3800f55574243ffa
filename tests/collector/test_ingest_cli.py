"""`routewatch collector` / `python -m routewatch.collector`: config from YAML and flags, clear errors,
and a clean stop on SIGTERM that drains the queue and writes the snapshot."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from ingest_support import export_request

from routewatch.collector.config import ENV_TOKEN, CollectorConfig, load_config
from routewatch.collector.service import main

SAMPLE = Path(__file__).parents[2] / "collector" / "routewatch-collector.yaml"


def test_sample_config_is_valid_and_matches_the_defaults() -> None:
    config = load_config(SAMPLE)
    default = CollectorConfig()
    same = {"monitor", "snapshot_path"}
    assert config.model_dump(exclude=same) == default.model_dump(exclude=same)
    assert (config.host, config.grpc_port, config.http_port) == ("127.0.0.1", 14317, 14318)
    # The one setting it does not leave at its default: snapshots on, in the working directory (the
    # deployment files keep theirs in the state directory they mount or create).
    assert default.snapshot_path is None
    assert config.snapshot_path == Path("routewatch-collector-snapshot.json")
    for name in ("routewatch-collector.service", "Dockerfile", "kubernetes.yaml"):
        assert "/var/lib/routewatch/collector-snapshot.json" in (SAMPLE.parent / name).read_text(), name


def test_flags_override_the_file(capsys, tmp_path: Path) -> None:
    assert main(["--config", str(SAMPLE), "--grpc-port", "0", "--no-http", "--queue-capacity", "7",
                 "--print-config"]) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert (printed["grpc_port"], printed["http_port"], printed["queue_capacity"]) == (0, None, 7)


def test_bad_config_is_reported_not_raised(capsys, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("queue_capacity: -1\nno_such_key: 1\n")
    assert main(["--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "queue_capacity" in err and "no_such_key" in err


def test_token_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    assert CollectorConfig(auth_token_file=token_file).token() == "from-file"
    assert CollectorConfig().token({ENV_TOKEN: "from-env"}) == "from-env"
    assert CollectorConfig().token({}) is None
    assert "s3cret" not in repr(CollectorConfig(auth_token="s3cret"))


def test_module_runs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "routewatch.collector", "--grpc-port", "0", "--http-port", "0",
         "--snapshot", str(snapshot), "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"HTTP (http://\S+)", line)
        assert match, line
        url = match.group(1)
        response = httpx.post(url + "/v1/traces", content=export_request(5).SerializeToString(),
                              headers={"content-type": "application/x-protobuf"})  # fmt: skip
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    streams = json.loads(snapshot.read_text())["drift"]["streams"]
    assert streams[0]["n"] == 5


def test_deployment_files_agree_with_the_defaults() -> None:
    import yaml

    folder = SAMPLE.parent
    manifests = list(yaml.safe_load_all((folder / "kubernetes.yaml").read_text()))
    config_map = next(m for m in manifests if m["kind"] == "ConfigMap")
    config = CollectorConfig.model_validate(yaml.safe_load(config_map["data"]["collector.yaml"]))
    assert (config.host, config.grpc_port, config.http_port) == ("0.0.0.0", 14317, 14318)
    service = next(m for m in manifests if m["kind"] == "Service")
    assert sorted(p["port"] for p in service["spec"]["ports"]) == [14317, 14318]
    deployment = next(m for m in manifests if m["kind"] == "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert sorted(p["containerPort"] for p in container["ports"]) == [14317, 14318]
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    unit = (folder / "routewatch-collector.service").read_text()
    assert "routewatch collector" in unit and "--snapshot" in unit
    dockerfile = (folder / "Dockerfile").read_text()
    assert "EXPOSE 14317 14318" in dockerfile

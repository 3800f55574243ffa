"""User errors, run as a user would (`routewatch ...` in a subprocess): one line naming what to fix, a non-zero
exit, never a traceback and never the "this is a bug" line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("routewatch")


def routewatch(
    *argv: str, block: tuple[str, ...] = (), tmp_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `routewatch` script (else `python -m routewatch.cli`); `block` makes those modules unimportable,
    as on an installation without the extra that brings them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if block:
        assert tmp_path is not None
        (tmp_path / "sitecustomize.py").write_text(
            "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in block)
        )
        env["PYTHONPATH"] = str(tmp_path) + os.pathsep + env["PYTHONPATH"]
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "routewatch.cli"]
    return subprocess.run([*cmd, *argv], capture_output=True, text=True, timeout=90, env=env, cwd=tmp_path)


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, *fragments: str) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "this is a bug" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in done.stderr
    assert done.stdout == ""


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_demo_trace_file_in_a_missing_directory(tmp_path: Path) -> None:
    done = routewatch("demo", "--no-live", "--traces", "/nonexistent/dir/x.jsonl", tmp_path=tmp_path)
    assert_one_line(done, 1, "cannot write the trace file /nonexistent/dir/x.jsonl", "--traces")


def test_demo_bad_otlp_endpoint(tmp_path: Path) -> None:
    assert_one_line(routewatch("demo", "--otlp-endpoint", "nowhere", tmp_path=tmp_path), 2, "--otlp-endpoint")


@pytest.mark.parametrize("module", ["openai", "anthropic", "jsonschema"])
def test_demo_without_the_demo_extra_names_the_install_command(tmp_path: Path, module: str) -> None:
    done = routewatch("demo", "--no-live", block=(module,), tmp_path=tmp_path)
    assert_one_line(done, 1, module, "pip install 'routewatch[demo]'")
    assert not (tmp_path / "routewatch-demo-traces.jsonl").exists()  # it stopped before starting anything


def test_demo_otlp_endpoint_without_the_exporter(tmp_path: Path) -> None:
    done = routewatch("demo", "--no-live", "--otlp-endpoint", "http://127.0.0.1:4317",
                      block=("opentelemetry.exporter.otlp.proto.grpc",), tmp_path=tmp_path)  # fmt: skip
    assert_one_line(done, 1, "OTLP/gRPC exporter", "pip install 'routewatch[demo]'")


def test_simulator_port_in_use(busy_port: int, tmp_path: Path) -> None:
    done = routewatch("simulator", "--port", str(busy_port), tmp_path=tmp_path)
    assert_one_line(done, 1, f"routewatch simulator: cannot listen on 127.0.0.1:{busy_port}", "in use")


def test_simulator_host_that_is_no_address(tmp_path: Path) -> None:
    done = routewatch("simulator", "--host", "999.1.1.1", "--port", "0", tmp_path=tmp_path)
    assert_one_line(done, 1, "routewatch simulator: cannot listen on 999.1.1.1:0")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--fault", "bogus"], ["--fault 'bogus': expected KIND=P"]),
        (["--fault", "http_429=lots"], ["--fault 'http_429=lots': P must be a probability"]),
        (["--fault", "gremlins=0.1"], ["--fault: unknown fault 'gremlins'"]),
        (["--fault", "http_429=1.5"], ["--fault: fault probabilities must each be <= 1"]),
        (["--ttft", "-1"], ["--ttft: Input should be greater than or equal to 0"]),
        (["--port", "99999"], ["argument --port: invalid port 99999", "routewatch simulator --help"]),
        (["--bogus"], ["unrecognized arguments: --bogus"]),
        (["--scenario", "/nonexistent.json"], ["--scenario: cannot read /nonexistent.json"]),
        (["--scenario-json", "{nope"], ["--scenario-json: not valid JSON"]),
        (["--scenario-json", '{"default": {"latency": 1}}'], ["--scenario-json: default.latency: unknown field"]),
    ],
)
def test_simulator_bad_input_names_the_flag(tmp_path: Path, argv: list[str], fragments: list[str]) -> None:
    done = routewatch("simulator", "--port", "0", *argv, tmp_path=tmp_path)
    assert_one_line(done, 2, "error: routewatch simulator: ", *fragments)
    assert "python -m" not in done.stderr

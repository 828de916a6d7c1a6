"""The real product for the browser: ``llm-monitor simulate`` and ``llm-monitor run`` as two
processes on loopback ports, configured like the demo (gpt-4.1-nano on a simulated OpenAI
endpoint and a simulated Azure deployment) but fast: a probe every 2 s and 10-second windows, so
that probes show within seconds and windows close every 10 s.

One endpoint is made to fail at run time through the simulator's admin API
(``POST /_simulator/endpoints/{id}/mode``), as an outage would.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from monitor.cli.demo import DEMO_KEY_DEFAULT, DEMO_KEY_ENV, demo_raw_config, point_at
from tests.reliability.harness import free_port

ROOT = Path(__file__).resolve().parents[2]
MODEL = "gpt-4.1-nano"
#: The demo config's endpoints: a simulated OpenAI endpoint and a simulated Azure deployment.
OPENAI = "openai"
AZURE = "azure-eastus"
#: Where ``api_token`` is passed to the daemon, when a test sets one.
TOKEN_ENV = "LLM_MONITOR_WEB_TEST_TOKEN"
PROBE_INTERVAL = 2
WINDOW = 10


@dataclass
class Product:
    """A running simulator and daemon.

    ``base_url`` is the daemon's HTTP server, ``admin_url`` the simulator's admin API
    (``…/_simulator``), ``config`` the config both were started with (as written to
    ``config_path``), ``token`` the API token the daemon requires (None: none).
    """

    base_url: str
    admin_url: str
    simulator_url: str
    config: dict[str, Any]
    config_path: Path
    log_path: Path
    token: str | None = None
    _client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10), repr=False)

    def url(self, path: str) -> str:
        """The daemon's URL of ``path`` (``"/models/gpt-4.1-nano"``)."""
        return self.base_url + path

    def api(self, path: str, **params: str) -> Any:
        """GET ``path`` of the daemon (with the token, if any); the JSON body of a 200."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = self._client.get(self.url(path), params=params, headers=headers)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def set_mode(self, endpoint_id: str, mode: str | None) -> None:
        """Make the simulated endpoint answer every request with ``mode`` (a simulator
        behaviour: ``"server_error"``, ``"rate_limited"``, ``"reset"``, ``"hang_before_headers"``,
        …); None brings it back to normal."""
        response = self._client.post(
            f"{self.admin_url}/endpoints/{endpoint_id}/mode", json={"mode": mode}
        )
        assert response.status_code == 200, response.text

    @contextlib.contextmanager
    def failing(self, endpoint_id: str, mode: str = "server_error") -> Iterator[None]:
        """The endpoint fails with ``mode`` inside the block and is normal again after it."""
        self.set_mode(endpoint_id, mode)
        try:
            yield
        finally:
            self.set_mode(endpoint_id, None)

    def wait_until(
        self, what: str, check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.5
    ) -> None:
        """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {timeout:g} s\n{self.log_tail()}")
            time.sleep(interval)

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """``GET /api/v1/endpoints`` by endpoint id."""
        return {e["id"]: e for e in self.api("/api/v1/endpoints")["endpoints"]}

    def wait_for_probes(self, timeout: float = 60.0) -> None:
        """Until every endpoint has been probed at least once."""
        self.wait_until(
            "a probe of every endpoint",
            lambda: all(e["last_probe"] for e in self.endpoints().values()),
            timeout,
        )

    def wait_for_windows(self, count: int = 1, timeout: float = 90.0) -> None:
        """Until ``count`` windows of every endpoint are rolled up (a window closes every 10 s)."""

        def enough() -> bool:
            rollups = self.api("/api/v1/rollups")["rollups"]
            ids = [r["endpoint"] for r in rollups]
            return all(ids.count(e) >= count for e in (OPENAI, AZURE))

        self.wait_until(f"{count} window(s) of every endpoint", enough, timeout)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of both processes' output."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text[-chars:]

    def close(self) -> None:
        self._client.close()


def product_config(
    directory: Path,
    *,
    port: int,
    simulator_port: int,
    server: Mapping[str, Any] | None = None,
    **sections: Any,
) -> dict[str, Any]:
    """The bundled demo config on these ports, a SQLite store in ``directory``, 2-second probes
    and 10-second windows, no random faults; ``server`` extends the ``server:`` section and
    ``sections`` replace whole top-level sections."""
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    raw = point_at(demo_raw_config(), simulator_url)
    raw["storage"] = {"url": f"sqlite:///{directory / 'monitor.db'}"}
    raw["server"] = {"host": "127.0.0.1", "port": port, **(server or {})}
    raw["probe"].update(
        {
            "interval": f"{PROBE_INTERVAL}s",
            "timeout": f"{PROBE_INTERVAL}s",
            "jitter": 0,
            "max_tokens": 32,
        }
    )
    raw["rollup"] = {"window": f"{WINDOW}s"}
    raw["logging"] = {"format": "json"}
    raw["simulator"].update({"host": "127.0.0.1", "port": simulator_port, "seed": 13})
    for endpoint in raw["simulator"]["endpoints"]:
        endpoint.pop("faults", None)  # a test makes an endpoint fail when it means to
    raw.update(sections)
    return raw


@contextlib.contextmanager
def start_product(
    directory: Path,
    *,
    server: Mapping[str, Any] | None = None,
    api_token: str | None = None,
    **sections: Any,
) -> Iterator[Product]:
    """Start the simulator and the daemon with ``product_config`` (``api_token``: the daemon
    requires this bearer token, read from ``$LLM_MONITOR_WEB_TEST_TOKEN``); yield them once
    the simulator answers and the daemon is ready; stop both at the end."""
    directory.mkdir(parents=True, exist_ok=True)
    port, simulator_port = free_port(), free_port()
    server = {**(server or {}), **({"api_token_env": TOKEN_ENV} if api_token else {})}
    raw = product_config(
        directory, port=port, simulator_port=simulator_port, server=server, **sections
    )
    config_path = directory / "monitor.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    log_path = directory / "processes.log"
    env = {k: v for k, v in os.environ.items() if k != "LLM_MONITOR_CONFIG"}
    env.setdefault(DEMO_KEY_ENV, DEMO_KEY_DEFAULT)
    if api_token:
        env[TOKEN_ENV] = api_token
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    product = Product(
        base_url=f"http://127.0.0.1:{port}",
        admin_url=f"{simulator_url}/_simulator",
        simulator_url=simulator_url,
        config=raw,
        config_path=config_path,
        log_path=log_path,
        token=api_token,
    )
    with contextlib.ExitStack() as stack, log_path.open("ab") as log:
        stack.callback(product.close)
        simulator = _start(stack, ["simulate", "--config", str(config_path)], log, env)
        product.wait_until(
            "the simulator answers",
            lambda: _alive(simulator, product) and _answers(f"{product.admin_url}/health"),
            timeout=30,
            interval=0.1,
        )
        daemon = _start(stack, ["run", "--config", str(config_path)], log, env)
        product.wait_until(
            "the daemon is ready",
            lambda: _alive(daemon, product) and _answers(f"{product.base_url}/readyz"),
            timeout=60,
            interval=0.2,
        )
        yield product


def _start(
    stack: contextlib.ExitStack, args: list[str], log: Any, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        cwd=ROOT,
    )
    stack.callback(_stop, process)
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _alive(process: subprocess.Popen[bytes], product: Product) -> bool:
    if process.poll() is not None:
        raise AssertionError(
            f"{process.args!r} exited ({process.returncode}):\n{product.log_tail()}"
        )
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False

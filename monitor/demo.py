"""The demo: the bundled config's simulated endpoints, started in-process, probed for real."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.errors import MonitorError
from monitor.profile import ModelLive
from monitor.result import ProbeResult
from monitor.simulator import Simulator, SimulatorConfig

#: The demo's made-up credential, shared by the simulator and the monitor through the environment.
DEMO_KEY_ENV = "LLM_MONITOR_DEMO_KEY"
DEMO_KEY_DEFAULT = "demo-key-not-a-secret"
#: The address the bundled config's endpoints name; the demo moves them to the real port.
BUNDLED_SIMULATOR_URL = "http://127.0.0.1:8400"


def demo_config_text() -> str:
    """The bundled demo config (``config/demo.yaml``)."""
    return resources.files("monitor").joinpath("data/demo.yaml").read_text(encoding="utf-8")


def demo_reading_config(store_url: str) -> Config:
    """The bundled demo config reading ``store_url``, for ``report`` and ``profile --store``
    (no secrets: nothing is probed)."""
    raw = demo_raw_config()
    raw["storage"] = {"url": store_url}
    return parse_config(yaml.safe_dump(raw), resolve_secrets=False)


def demo_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment with the demo key set (an existing value is kept)."""
    env = dict(os.environ if environ is None else environ)
    env.setdefault(DEMO_KEY_ENV, DEMO_KEY_DEFAULT)
    return env


def demo_raw_config() -> dict[str, Any]:
    """The bundled demo config as a mapping, to adjust before validation."""
    raw: dict[str, Any] = yaml.safe_load(demo_config_text())
    return raw


def point_at(raw: dict[str, Any], simulator_url: str) -> dict[str, Any]:
    """The config with every endpoint that names the bundled simulator address moved to
    ``simulator_url``."""
    for endpoint in raw.get("endpoints", []):
        url = str(endpoint.get("base_url", ""))
        if url.startswith(BUNDLED_SIMULATOR_URL):
            endpoint["base_url"] = simulator_url + url.removeprefix(BUNDLED_SIMULATOR_URL)
    return raw


async def start_demo_simulator(
    raw: dict[str, Any], env: Mapping[str, str], *, port: int = 0
) -> tuple[Simulator, Config]:
    """Start the simulator of ``raw`` on ``port`` (0: any free port) and return it with the
    validated config whose endpoints point at it."""
    os.environ.setdefault(DEMO_KEY_ENV, env[DEMO_KEY_ENV])  # the simulator reads its key here
    sim_raw = dict(raw["simulator"], port=port)
    simulator = Simulator(SimulatorConfig.model_validate(sim_raw))
    await simulator.start()
    try:
        config = parse_config(yaml.safe_dump(point_at(raw, simulator.base_url)), environ=env)
    except BaseException:
        await simulator.stop()
        raise
    return simulator, config


class SimulatorThread:
    """A simulator on its own thread and event loop, so it shares no loop with the daemon."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._simulator = Simulator(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="llm-monitor-simulator", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def simulator(self) -> Simulator:
        """The simulator (call its methods on its own loop only)."""
        return self._simulator

    def start(self) -> str:
        """Start serving; return the simulator's base URL."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self._simulator.base_url

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._simulator.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._simulator.start())
        except BaseException as exc:  # reported to the caller of start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()


def profile_line(live: ModelLive) -> str:
    """The live card in one line, as the model page shows it."""

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.1f}%"

    ttft = "—" if live.best_ttft_seconds is None else f"{live.best_ttft_seconds * 1000:.0f} ms"
    speed = (
        "—"
        if live.best_output_tokens_per_second is None
        else f"{live.best_output_tokens_per_second:.0f} tok/s"
    )
    via = ", ".join(live.available_via) or "—"
    return (
        f"{live.model}: {pct(live.avg_uptime_ratio)} avg uptime · {ttft} best TTFT · "
        f"{speed} best throughput · {live.active_endpoints}/{live.total_endpoints} active "
        f"endpoints · available via {via}"
    )


def probe_line(result: ProbeResult) -> str:
    """One probe as a short line."""
    stamp = result.started_at.strftime("%H:%M:%S")
    parts = [f"[{stamp}] probe    {result.endpoint:<14} {result.outcome.value:<13}"]
    if result.ttft_seconds is not None:
        parts.append(f"TTFT {result.ttft_seconds * 1000:5.0f} ms")
    if result.output_tokens_per_second is not None:
        parts.append(f"{result.output_tokens_per_second:5.0f} tok/s")
    if result.error:
        parts.append(result.error)
    return "  ".join(parts)


def run_demo(
    *,
    port: int = 9464,
    duration: float | None = None,
    store_url: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run the simulator and the daemon with the bundled config until Ctrl-C (or
    ``duration`` seconds); return the exit code."""
    from monitor.daemon import Daemon, listen, serve
    from monitor.logs import configure_logging

    configure_logging("error")  # the demo prints its own lines; errors still show
    env = demo_environment()
    os.environ.setdefault(DEMO_KEY_ENV, env[DEMO_KEY_ENV])
    raw = demo_raw_config()
    simulation = SimulatorThread(SimulatorConfig.model_validate(dict(raw["simulator"], port=0)))
    sim_url = simulation.start()
    with tempfile.TemporaryDirectory(prefix="llm-monitor-demo-") as tmp:
        raw = point_at(raw, sim_url)
        raw["storage"] = {"url": store_url or f"sqlite:///{Path(tmp) / 'demo.db'}"}
        config = parse_config(yaml.safe_dump(raw), environ=env)
        try:
            sock = listen("127.0.0.1", port)
        except MonitorError:
            sock = listen("127.0.0.1", 0)  # the usual port is taken: any free one will do
        daemon = Daemon(config)

        async def main() -> None:
            stop = asyncio.Event()

            def ready(url: str) -> None:
                out(f"Simulated OpenAI and Azure OpenAI endpoints: {sim_url}")
                out(f"Store: {daemon.store.url}")
                out(f"Metrics:  {url}/metrics")
                for model in config.models:
                    out(f"Profile:  {url}/api/v1/models/{model.id}/profile")
                out(f"Endpoints: {url}/api/v1/endpoints   Rollups: {url}/api/v1/rollups")
                out(f"Latest report: {url}/api/v1/reports/latest   API: {url}/openapi.json")
                window = int(config.schema.rollup.window)
                out(f"Probing every {config.schema.probe.interval:g}s; {window}s windows."
                    " The profile fills in after the first window. Ctrl-C stops.")  # fmt: skip

            async def watch() -> None:
                shown: dict[str, str] = {}
                seen: dict[str, str] = {}
                while True:
                    await asyncio.sleep(1)
                    for endpoint, result in sorted(daemon.last_probes().items()):
                        if seen.get(endpoint) != result.probe_id:
                            seen[endpoint] = result.probe_id
                            out(probe_line(result))
                    current = daemon.snapshot()
                    if current is None:
                        continue
                    for live in current.profiles.values():
                        line = profile_line(live)
                        if shown.get(live.model) != line:
                            shown[live.model] = line
                            stamp = datetime.now(UTC).strftime("%H:%M:%S")
                            out(f"[{stamp}] profile  {line}")

            watcher = asyncio.create_task(watch())
            if duration is not None:
                asyncio.get_running_loop().call_later(duration, stop.set)
            try:
                await serve(daemon, sock, stop=stop, on_ready=ready)
            finally:
                watcher.cancel()

        try:
            asyncio.run(main())
        finally:
            simulation.stop()
    return 0

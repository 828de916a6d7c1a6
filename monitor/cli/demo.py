"""The demo: the bundled config's simulated endpoints, started in-process, probed for real."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from monitor.config import Config, Endpoint, parse_config
from monitor.core.errors import MonitorError
from monitor.core.profile import ModelLive
from monitor.core.result import ProbeResult
from monitor.simulator import Simulator, SimulatorConfig

if TYPE_CHECKING:
    from monitor.probing.runner import ProbeRunner

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


def profile_line(live: ModelLive, window_seconds: int) -> str:
    """The live card in one line, as ``report`` and ``profile`` show it."""
    from monitor.reports.text import card_line

    stamp = (live.refreshed_at or datetime.now(UTC)).strftime("%H:%M:%S")
    return f"[{stamp}] profile  {live.model}: {card_line(live, window_seconds)}"


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


@dataclass(frozen=True, order=True, slots=True)
class _Line:
    at: datetime
    seq: int
    text: str = field(compare=False)


class DemoFeed:
    """The demo's lines in the order of their times: a probe at its start, a profile card at its
    refresh. A line is let out only once no probe that started before it can still be running
    (every probe is registered when it starts and ends), so a card never comes before the line
    of a probe that started earlier. Thread-safe: probes register from the measuring loop."""

    def __init__(self, margin_seconds: float = 1.0) -> None:
        # A probe registers a moment after its start is stamped: the margin covers that moment.
        self._margin = timedelta(seconds=margin_seconds)
        self._lock = threading.Lock()
        self._lines: list[_Line] = []
        self._running: dict[int, datetime] = {}
        self._seen: set[str] = set()
        self._seq = itertools.count()

    def probe_started(self, at: datetime) -> int:
        """Note a probe starting at ``at``; the token is for :meth:`probe_ended`."""
        token = next(self._seq)
        with self._lock:
            self._running[token] = at - self._margin
        return token

    def probe_ended(self, token: int, result: ProbeResult | None) -> None:
        """The probe of ``token`` ended with ``result`` (None: cut short; its record comes
        later through :meth:`add_probe`)."""
        with self._lock:
            self._running.pop(token, None)
            if result is not None:
                self._add_probe(result)

    def add_probe(self, result: ProbeResult) -> None:
        """A probe's line, unless it was added before."""
        with self._lock:
            self._add_probe(result)

    def add_profile(self, live: ModelLive, window_seconds: int) -> None:
        """A profile card's line, at the card's refresh time."""
        with self._lock:
            self._push(live.refreshed_at or datetime.now(UTC), profile_line(live, window_seconds))

    def ready(self, now: datetime) -> list[str]:
        """The lines that no running probe can precede any more, in order."""
        with self._lock:
            horizon = min([now - self._margin, *self._running.values()])
            out: list[str] = []
            while self._lines and self._lines[0].at < horizon:
                out.append(heapq.heappop(self._lines).text)
            return out

    def drain(self) -> list[str]:
        """Every line not yet let out, in order (once probing has stopped)."""
        with self._lock:
            self._running.clear()
            lines = sorted(self._lines)
            self._lines.clear()
            return [line.text for line in lines]

    def _add_probe(self, result: ProbeResult) -> None:
        if result.probe_id not in self._seen:
            self._seen.add(result.probe_id)
            self._push(result.started_at, probe_line(result))

    def _push(self, at: datetime, text: str) -> None:
        heapq.heappush(self._lines, _Line(at, next(self._seq), text))


def watched_runner(feed: DemoFeed) -> ProbeRunner:
    """A probe runner that tells ``feed`` when each probe starts and ends (cheaply: it runs on
    the measuring loop)."""
    from monitor.probing.runner import ProbeRunner  # httpx loads only for the commands that probe

    class WatchedRunner(ProbeRunner):
        async def probe(self, endpoint: Endpoint) -> ProbeResult:
            token = feed.probe_started(datetime.now(UTC))
            result: ProbeResult | None = None
            try:
                result = await super().probe(endpoint)
                return result
            finally:
                feed.probe_ended(token, result)

    return WatchedRunner()


def run_demo(
    *,
    port: int = 9464,
    duration: float | None = None,
    store_url: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run the simulator and the daemon with the bundled config until Ctrl-C (or
    ``duration`` seconds); return the exit code."""
    from monitor.api.server import listen, serve
    from monitor.reports.text import card_line
    from monitor.service.aggregator import settle_seconds, window_seconds
    from monitor.service.daemon import Daemon
    from monitor.service.logs import configure_logging

    configure_logging("error")  # the demo prints its own lines; errors still show
    env = demo_environment()
    os.environ.setdefault(DEMO_KEY_ENV, env[DEMO_KEY_ENV])
    raw = demo_raw_config()
    simulation = SimulatorThread(SimulatorConfig.model_validate(dict(raw["simulator"], port=0)))
    sim_url = simulation.start()
    begun = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="llm-monitor-demo-") as tmp:
        raw = point_at(raw, sim_url)
        raw["storage"] = {"url": store_url or f"sqlite:///{Path(tmp) / 'demo.db'}"}
        config = parse_config(yaml.safe_dump(raw), environ=env)
        try:
            sock = listen("127.0.0.1", port)
        except MonitorError:
            sock = listen("127.0.0.1", 0)  # the usual port is taken: any free one will do
        feed = DemoFeed()
        daemon = Daemon(config, runner_factory=lambda: watched_runner(feed))
        window = window_seconds(config)

        async def main() -> None:
            stop = asyncio.Event()
            announced = asyncio.Event()

            def ready(url: str) -> None:
                out(f"Status page: {url}/")
                out(f"Simulated OpenAI and Azure OpenAI endpoints: {sim_url}")
                out(f"Store: {daemon.store.url}")
                out(f"Metrics:  {url}/metrics")
                for model in config.models:
                    out(f"Model page: {url}/models/{model.id}?range=1h")
                    out(f"Profile:  {url}/api/v1/models/{model.id}/profile")
                out(f"Endpoints: {url}/api/v1/endpoints   Rollups: {url}/api/v1/rollups")
                out(f"Latest report: {url}/api/v1/reports/latest   API: {url}/openapi.json")
                settle = settle_seconds(config)
                out(f"Probing every {config.schema.probe.interval:g}s; {window}s windows on the"
                    f" UTC clock. The profile card fills in {settle:g}s after the end of the"
                    " first window with probes. Times are UTC. Ctrl-C stops.")  # fmt: skip
                announced.set()

            async def watch() -> None:
                await announced.wait()
                shown: dict[str, str] = {}
                while True:
                    current = daemon.snapshot()
                    for live in current.profiles.values() if current else ():
                        card = card_line(live, window)
                        if shown.get(live.model) != card:
                            shown[live.model] = card
                            feed.add_profile(live, window)
                    for line in feed.ready(datetime.now(UTC)):
                        out(line)
                    await asyncio.sleep(0.25)

            watcher = asyncio.create_task(watch())
            if duration is not None:
                asyncio.get_running_loop().call_later(duration, stop.set)
            try:
                await serve(daemon, sock, stop=stop, on_ready=ready)
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            # Probing has stopped and every result is handled: the probes that ended after the
            # last look, and those cut short by the stop (recorded as cancelled), are printed.
            for result in daemon.last_probes().values():
                if result.started_at >= begun:
                    feed.add_probe(result)
            for line in feed.drain():
                out(line)

        try:
            asyncio.run(main())
        finally:
            simulation.stop()
    if store_url is not None:
        models = " ".join(m.id for m in config.models)
        out(f"Kept in {store_url}; read it with: llm-monitor report --store {store_url}")
        out(f"  or: llm-monitor profile {models} --store {store_url}")
    return 0

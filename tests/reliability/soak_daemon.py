"""``llm-monitor run``, plus the final metrics: after the clean stop, the registry is written out.

``python -m tests.reliability.soak_daemon CONFIG METRICS_FILE`` runs the daemon exactly as
``monitor.api.server.run`` does (same logging, socket, switch interval, ``serve``), and once
SIGTERM stopped it (every probe finished, written and rolled up) writes the Prometheus exposition of
its registry to METRICS_FILE, so a test can compare the final counters with the store.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from prometheus_client import generate_latest

from monitor.api.server import listen, serve
from monitor.config import load_config
from monitor.service.daemon import Daemon
from monitor.service.logs import configure_logging
from monitor.service.scheduler import SWITCH_INTERVAL_SECONDS


def main(config_path: str, metrics_path: str) -> int:
    """Run until SIGTERM; then write the final metrics."""
    config = load_config(config_path)
    settings = config.schema
    configure_logging(settings.logging.level, settings.logging.format)
    sock = listen(settings.server.host, settings.server.port)
    daemon = Daemon(config)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    try:
        asyncio.run(serve(daemon, sock))
    finally:
        sock.close()
    Path(metrics_path).write_bytes(generate_latest(daemon.registry))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))

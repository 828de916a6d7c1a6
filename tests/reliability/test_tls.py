"""TLS certificates are verified by default: a provider with a self-signed certificate (or one
issued for another name) fails as a ``connect_error`` before a byte of the request, key
included, is sent; ``ca_bundle`` naming the certificate makes it work, and ``verify_tls: false``
is the explicit opt-out. The certificates are made with ``openssl`` for each run."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from bench.stalls import self_signed
from monitor.config import parse_config
from monitor.core.outcomes import Outcome
from monitor.core.result import ProbeResult
from monitor.probing.runner import ProbeRunner
from monitor.simulator import Simulator

from .harness import KEY, MODEL, monitored, sim_config, sim_endpoint


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return self_signed(folder, name)


@dataclass
class Probed:
    sim: Simulator
    results: dict[str, ProbeResult]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def probed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Probed]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(folder, "server")
    other, _ = _self_signed(folder, "other")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    async with Simulator(sim_config(sim_endpoint("a")), tls=tls) as sim:
        url = sim.endpoint_url("a")
        assert url.startswith("https://127.0.0.1:")
        endpoints = [
            monitored(sim, "default", "a"),
            monitored(sim, "ca-bundle", "a", ca_bundle=str(cert)),
            monitored(sim, "other-ca", "a", ca_bundle=str(other)),
            monitored(sim, "wrong-name", "a", ca_bundle=str(cert),
                      base_url=url.replace("127.0.0.1", "localhost")),
            monitored(sim, "no-verify", "a", verify_tls=False),
        ]  # fmt: skip
        text = yaml.safe_dump(
            {"probe": {"timeout": "5s"}, "models": [{"id": MODEL}], "endpoints": endpoints}
        )
        config = parse_config(text, environ={"SIM_KEY": KEY})
        runner = ProbeRunner()
        try:
            results = {e.id: await runner.probe(e) for e in config.endpoints}
        finally:
            await runner.aclose()
        yield Probed(sim, results)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("endpoint", ["default", "other-ca", "wrong-name"])
async def test_an_unverifiable_certificate_is_a_connect_error(
    probed: Probed, endpoint: str
) -> None:
    result = probed.results[endpoint]
    assert result.outcome is Outcome.CONNECT_ERROR, result.error
    assert result.error is not None and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert result.http_status is None


@pytest.mark.asyncio(loop_scope="module")
async def test_no_request_and_no_key_reach_a_server_that_failed_verification(
    probed: Probed,
) -> None:
    # Only the probes that trusted the certificate got as far as an HTTP request.
    assert len(probed.sim.recent(100)) == 2


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("endpoint", ["ca-bundle", "no-verify"])
async def test_ca_bundle_or_an_explicit_opt_out_makes_it_work(
    probed: Probed, endpoint: str
) -> None:
    result = probed.results[endpoint]
    assert result.outcome is Outcome.SUCCESS, result.error
    assert result.connect_seconds is not None and result.connect_seconds > 0  # TLS was set up

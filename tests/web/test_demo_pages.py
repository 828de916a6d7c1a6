"""The demo names its status page first, and serves it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.web.markup import check_page


async def test_the_demo_prints_the_status_pages_url_first_and_serves_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LLM_MONITOR_DEMO_KEY", "LLM_MONITOR_CONFIG")}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "demo", "--port", "0", "--duration", "120",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip()
        second = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        label, _, url = first.partition(": ")
        async with httpx.AsyncClient(timeout=10) as client:
            status = await client.get(url)
            model = await client.get(url + "models/gpt-4.1-nano")
        process.send_signal(signal.SIGINT)
        rest, _err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert label == "Status page"
    assert url.startswith("http://127.0.0.1:") and url.endswith("/")
    assert second.startswith("Simulated OpenAI and Azure OpenAI endpoints: ")
    assert f"Model page: {url}models/gpt-4.1-nano" in rest.decode()
    assert status.status_code == 200 and model.status_code == 200
    root = check_page(status.text)
    assert {r.get("data-endpoint") for r in root.find_all(testid="endpoint-row")} == {
        "openai", "azure-eastus"
    }  # fmt: skip
    check_page(model.text)

"""One probing process that ``bench.stalls`` stops and continues: the product's probe or the
openai SDK's, one probe per ``go`` line on stdin.

``python -m bench.stallproc monitor|sdk BASE_URL`` (the key in ``$SIM_KEY``, a CA bundle in
``$STALL_CA`` for HTTPS) prints ``ready`` once set up, then for each ``go`` line on stdin probes
once and prints one JSON line: the TTFT and output speed it measured, the provider's request id
and, for the product's probe, ``stamp_source`` and ``first_token_queued``. Kernel stamps follow
``LLM_MONITOR_KERNEL_STAMPS`` as in the product. It stops at the end of stdin.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

MODEL = "gpt-4.1-nano"
#: Tokens the probe asks for: the count to 40, cut (finish "length"), a 1.5 s stream at 20 tok/s.
MAX_TOKENS = 30


async def _monitor(base_url: str) -> None:
    import yaml

    from monitor.config import parse_config
    from monitor.probing.runner import ProbeRunner

    endpoint: dict[str, Any] = {
        "id": "stalled", "model": MODEL, "provider": "openai", "base_url": base_url,
        "api_key_env": "SIM_KEY",
    }  # fmt: skip
    if os.environ.get("STALL_CA"):
        endpoint["ca_bundle"] = os.environ["STALL_CA"]
    text = yaml.safe_dump(
        {
            "probe": {"timeout": "10s", "max_tokens": MAX_TOKENS},
            "models": [{"id": MODEL}],
            "endpoints": [endpoint],
        }
    )
    target = parse_config(text).endpoints[0]
    runner = ProbeRunner()
    try:
        await _serve(lambda: _monitor_probe(runner, target))
    finally:
        await runner.aclose()


async def _monitor_probe(runner: Any, target: Any) -> dict[str, Any]:
    result = await runner.probe(target)
    return {
        "ok": result.ok,
        "error": result.error,
        "ttft_seconds": result.ttft_seconds,
        "output_tokens_per_second": result.output_tokens_per_second,
        "request_id": result.provider_request_id,
        "stamp_source": result.stamp_source,
        "first_token_queued": result.first_token_queued,
    }


async def _sdk(base_url: str) -> None:
    from openai import AsyncOpenAI, DefaultAsyncHttpx2Client

    from bench.sdkprobe import CURRENT_STAMP, WriteStamp, install_write_stamp, obvious_probe

    install_write_stamp()
    verify: str | bool = os.environ.get("STALL_CA") or True
    client = AsyncOpenAI(
        base_url=base_url,
        api_key=os.environ["SIM_KEY"],
        # The SDK's own HTTP client (on httpcore2, whose writes install_write_stamp stamps).
        http_client=DefaultAsyncHttpx2Client(verify=verify) if verify is not True else None,
        max_retries=0,
    )

    async def probe() -> dict[str, Any]:
        stamp = WriteStamp()
        CURRENT_STAMP.set(stamp)
        measured = await obvious_probe(client, MODEL, max_tokens=MAX_TOKENS)
        ttft = None
        if measured.first_content_ns is not None and stamp.written_ns is not None:
            ttft = (measured.first_content_ns - stamp.written_ns) / 1e9
        return {
            "ok": ttft is not None,
            "error": None,
            "ttft_seconds": ttft,
            "output_tokens_per_second": measured.output_tokens_per_second,
            "request_id": measured.request_id,
        }

    try:
        await _serve(probe)
    finally:
        await client.close()


async def _serve(probe: Any) -> None:
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        print(json.dumps(await probe()), flush=True)


def main() -> None:
    """Run the named probe against BASE_URL, once per ``go``."""
    which, base_url = sys.argv[1], sys.argv[2]
    asyncio.run(_monitor(base_url) if which == "monitor" else _sdk(base_url))


if __name__ == "__main__":
    main()

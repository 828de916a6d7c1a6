"""Hot path: CPU one probe costs the measuring process, and where it goes.

    python -m bench hotpath [--quick] [--probes 3000] [--concurrency 50]
                            [--tokens-per-second 2000] [--json PATH]

``ProbeRunner.probe`` against the simulator (its own process, the other core) ``--probes``
times, ``--concurrency`` at once, on one event loop pinned to one core; the CPU time of this
process divided by the number of probes is the cost of one probe (request building, httpx and
httpcore, SSE decoding, chunk interpretation, the result). Stream shapes: 40 one-token content
chunks (OpenAI-like) and 200 (a longer answer), sent at ``--tokens-per-second`` (at 2,000 several
chunks often arrive in one read; at 200 each chunk is a read of its own). Profile it with
``py-spy record -o profile.svg -- python -m bench hotpath``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import Column, parser, pin, print_table, split_cpus, write_json
from bench.harness import KEY, config_text, load, sim_url
from bench.simproc import simulator_process
from monitor.probing.runner import ProbeRunner

SHAPES = {"40 chunks": 40, "200 chunks": 200}
#: The probes' max_tokens cuts each simulated answer (one token longer) at its length, so
#: that it ends with finish "length" and the answer check leaves it alone.
SHAPES_BY_ID = {f"c{count}": count for count in SHAPES.values()}


async def _run(base: str, sim_id: str, probes: int, concurrency: int) -> dict[str, Any]:
    config = load(
        config_text(
            [("hot", sim_url(base, sim_id))],
            interval=60,
            timeout=30,
            storage_url="sqlite://",
            port=9464,
            max_tokens=SHAPES_BY_ID[sim_id],
        )
    )
    endpoint = config.endpoints[0]
    runner = ProbeRunner()
    limit = asyncio.Semaphore(concurrency)

    async def one() -> bool:
        async with limit:
            return (await runner.probe(endpoint)).ok

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))  # connections, imports
        cpu, wall = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(one() for _ in range(probes)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await runner.aclose()
    return {
        "probes": probes,
        "failed": results.count(False),
        "cpu_ms_per_probe": 1000 * cpu / probes,
        "probes_per_cpu_s": probes / cpu,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> None:
    """Print the table (and write the JSON)."""
    args_parser = parser(__doc__)
    args_parser.add_argument("--probes", type=int, default=None, help="default 3000 (quick 600)")
    args_parser.add_argument("--concurrency", type=int, default=50)
    args_parser.add_argument("--tokens-per-second", type=float, default=2000.0)
    args = args_parser.parse_args(argv)
    probes = args.probes or (600 if args.quick else 3000)
    daemon_cpus, sim_cpus = split_cpus()
    pin(daemon_cpus)
    sims = [
        {
            "id": f"c{count}",
            "api_key": KEY,
            "ttft": "50ms",
            "tokens_per_second": args.tokens_per_second,
            "output_tokens": count + 1,
        }
        for count in SHAPES.values()
    ]
    rows = []
    with simulator_process(sims, cpus=sim_cpus) as base:
        for shape, count in SHAPES.items():
            row = asyncio.run(_run(base, f"c{count}", probes, args.concurrency))
            rows.append({"stream": shape, **row})
    print_table(
        f"CPU per probe of ProbeRunner ({probes} probes, {args.concurrency} at once,"
        f" {args.tokens_per_second:g} tok/s)",
        [
            Column("stream", "stream"),
            Column("probes", "probes"),
            Column("failed", "failed"),
            Column("cpu_ms_per_probe", "CPU ms/probe", ".3f"),
            Column("probes_per_cpu_s", "probes per CPU-second", ",.0f"),
            Column("wall_s", "wall s", ".1f"),
        ],
        rows,
    )
    write_json(args.json, "hotpath", args, rows)


if __name__ == "__main__":
    main()

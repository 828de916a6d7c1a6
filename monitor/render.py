"""Showing probe results to people (a table) and to programs (JSON Lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.result import ProbeResult


def json_lines(results: Iterable[ProbeResult], out: IO[str]) -> None:
    """One JSON object per probe (DESIGN section 4)."""
    for result in results:
        out.write(json.dumps(result.to_json_dict(), separators=(",", ":")) + "\n")
    out.flush()


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _num(value: float | None, suffix: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def probe_table(results: Sequence[ProbeResult], console: Console) -> None:
    """A readable table of probe results, one row per endpoint."""
    table = Table(title=f"{len(results)} probe(s)", title_justify="left", header_style="bold")
    table.add_column("endpoint")
    table.add_column("model")
    table.add_column("outcome")
    table.add_column("TTFT", justify="right")
    table.add_column("speed", justify="right")
    table.add_column("total", justify="right")
    table.add_column("tokens", justify="right")
    table.add_column("connect", justify="right")
    table.add_column("error", overflow="fold", max_width=60)
    for result in results:
        style = "green" if result.ok else "red"
        tokens = "—"
        if result.output_tokens is not None:
            tokens = f"{'~' if result.tokens_estimated else ''}{result.output_tokens}"
        connect = "reused" if result.connection_reused else _ms(result.connect_seconds)
        table.add_row(
            result.endpoint,
            result.model,
            Text(result.outcome.value, style=style),
            _ms(result.ttft_seconds),
            _num(result.output_tokens_per_second, " tok/s"),
            _ms(result.total_seconds),
            tokens,
            connect,
            result.error or "",
        )
    console.print(table)

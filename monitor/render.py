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
    models = sorted({r.model for r in results})
    errors = any(r.error for r in results)
    title = f"{len(results)} probe(s)" + (f" of {models[0]}" if len(models) == 1 else "")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("endpoint", no_wrap=True)
    if len(models) > 1:
        table.add_column("model", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    for name in ("TTFT", "tok/s", "total", "tokens", "connect"):
        table.add_column(name, justify="right", no_wrap=True)
    if errors:
        table.add_column("error", overflow="fold", min_width=20)
    for result in results:
        tokens = "—"
        if result.output_tokens is not None:
            tokens = f"{'~' if result.tokens_estimated else ''}{result.output_tokens}"
        connect = "reused" if result.connection_reused else _ms(result.connect_seconds)
        row: list[str | Text] = [result.endpoint]
        if len(models) > 1:
            row.append(result.model)
        row += [
            Text(result.outcome.value, style="green" if result.ok else "red"),
            _ms(result.ttft_seconds),
            _num(result.output_tokens_per_second),
            _ms(result.total_seconds),
            tokens,
            connect,
        ]
        if errors:
            row.append(result.error or "")
        table.add_row(*row)
    console.print(table)

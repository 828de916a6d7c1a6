"""Showing probe results to people (a table) and to programs (JSON Lines)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor.core.kinds import DEFAULT_KIND
from monitor.core.result import ProbeResult


def json_lines(results: Iterable[ProbeResult], out: IO[str]) -> None:
    """One JSON object per probe (its fields: README, "Command line")."""
    for result in results:
        out.write(json.dumps(result.to_json_dict(), separators=(",", ":")) + "\n")
    out.flush()


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f} ms"


def _num(value: float | None, suffix: str = "", digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


#: The narrowest error column worth having; with less room, errors go under the table.
ERROR_COLUMN_MIN_WIDTH = 30


def probe_table(results: Sequence[ProbeResult], console: Console) -> None:
    """A readable table of probe results, one row per endpoint. Errors are the column that
    matters when probes fail: it gets the room left of the console's width, wrapped, or when
    that is too narrow (80 columns), each error is printed whole under the table."""
    table = _probe_table(results, errors=False)
    failed = [r for r in results if r.error]
    if not failed:
        console.print(table)
        return
    room = console.width - console.measure(table).maximum - 3  # a border and two pads
    if room >= ERROR_COLUMN_MIN_WIDTH:
        console.print(_probe_table(results, errors=True))
        return
    console.print(table)
    for result in failed:
        line = Text(f"{_target(result)}: ", style="bold")
        line.append(result.error or "")
        console.print(line)


def _target(result: ProbeResult) -> str:
    """The endpoint, with ``#kind`` for a probe of a kind other than the default."""
    return result.endpoint if result.kind == DEFAULT_KIND else f"{result.endpoint}#{result.kind}"


def _probe_table(results: Sequence[ProbeResult], *, errors: bool) -> Table:
    models = sorted({r.model for r in results})
    title = f"{len(results)} probe(s)" + (f" of {models[0]}" if len(models) == 1 else "")
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("endpoint", no_wrap=True)
    if len(models) > 1:
        table.add_column("model", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    for name in ("TTFT", "tok/s", "total", "tokens", "connect"):
        table.add_column(name, justify="right", no_wrap=True)
    if errors:
        table.add_column("error", overflow="fold", min_width=ERROR_COLUMN_MIN_WIDTH)
    for result in results:
        tokens = "—"
        if result.output_tokens is not None:
            tokens = f"{'~' if result.tokens_estimated else ''}{result.output_tokens}"
        connect = "reused" if result.connection_reused else _ms(result.connect_seconds)
        row: list[str | Text] = [_target(result)]
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
            row.append(Text(result.error or ""))  # text, not markup: "[redacted]" must show
        table.add_row(*row)
    return table

"""What every benchmark shares: statistics, tables, JSON output, the machine, CPU and memory."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def quantile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 <= q <= 1), or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(max(math.ceil(q * len(ordered)) - 1, 0), len(ordered) - 1)]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, p50, p95, p99, max and mean of ``values`` (None where there are none)."""
    return {
        "n": len(values),
        "p50": quantile(values, 0.5),
        "p95": quantile(values, 0.95),
        "p99": quantile(values, 0.99),
        "max": max(values) if values else None,
        "mean": sum(values) / len(values) if values else None,
    }


@dataclass(frozen=True)
class Column:
    """One table column: the row key, the header and how to show a value."""

    key: str
    header: str
    fmt: str = ""

    def cell(self, row: dict[str, Any]) -> str:
        """The text of this column in ``row``."""
        value = row.get(self.key)
        if value is None:
            return "—"
        if isinstance(value, float) and self.fmt:
            return format(value, self.fmt)
        if isinstance(value, int) and not isinstance(value, bool) and self.fmt.endswith(","):
            return format(value, ",")
        return str(value)


def table(title: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> str:
    """A Markdown table (readable in a terminal too) with a title line."""
    body = [[c.cell(row) for c in columns] for row in rows]
    widths = [max([len(c.header), *(len(r[i]) for r in body)]) for i, c in enumerate(columns)]
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(c.header.ljust(w) for c, w in zip(columns, widths, strict=True)))
    lines[-1] += " |"
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for cells in body:
        padded = (cell.rjust(w) for cell, w in zip(cells, widths, strict=True))
        lines.append("| " + " | ".join(padded) + " |")
    return "\n".join(lines)


def print_table(title: str, columns: Sequence[Column], rows: Iterable[dict[str, Any]]) -> None:
    """Print ``table(...)`` followed by a blank line."""
    print(table(title, columns, rows), end="\n\n", flush=True)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (``--json``, ``--quick``)."""
    text = doc or ""
    result = argparse.ArgumentParser(
        description=text.splitlines()[0] if text else None,
        epilog=text,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    result.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    result.add_argument(
        "--quick", action="store_true", help="the short variant (what python -m bench all runs)"
    )
    return result


def machine() -> dict[str, Any]:
    """What the numbers were measured on (the CPU's family and model tell one "AMD EPYC" host
    generation from another: the same benchmark ran twice as slow on a family 25 host as on a
    family 26 one)."""
    cpu: dict[str, str] = {}
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            key, _sep, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "cpu MHz") and key not in cpu:
                cpu[key] = value.strip()
            if not line.strip():
                break  # the first processor is enough
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "kernel": platform.release(),
        "cpu": cpu.get("model name", ""),
        "cpu_family": cpu.get("cpu family"),
        "cpu_model": cpu.get("model"),
        "cpu_mhz": cpu.get("cpu MHz"),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
    }


def write_json(path: Path | None, name: str, args: argparse.Namespace, results: Any) -> None:
    """Write ``results`` with the machine and the arguments to ``path`` (if given)."""
    if path is None:
        return
    arguments = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    document = {
        "benchmark": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "arguments": arguments,
        "machine": machine(),
        "results": results,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process now, in MB (10^6 bytes)."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 1e6


def peak_rss_mb(pid: int | str = "self") -> float:
    """The highest resident memory of a process so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def pin(cpus: set[int] | None) -> bool:
    """Pin this process (threads started later inherit it) to ``cpus``; False if impossible."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return False
    available = os.sched_getaffinity(0)
    if not cpus <= available or cpus == available:
        return False
    os.sched_setaffinity(0, cpus)
    return True


def split_cpus() -> tuple[set[int] | None, set[int] | None]:
    """(the daemon's CPUs, the simulators' CPUs): one core each when there are two or more."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return {available[0]}, set(available[1:])


def timed(action: Callable[[], object], runs: int) -> list[float]:
    """Seconds each of ``runs`` calls of ``action`` took."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def run_command(command: Sequence[str], **kwargs: Any) -> float:
    """Run a command to completion (it must succeed); return its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds (None stays None)."""
    return None if seconds is None else seconds * 1000

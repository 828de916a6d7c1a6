"""What probing costs a day, before any probe is sent (pure; docs/design.md#probe-spend).

Each endpoint sends ``86,400 / interval`` probes a day. A probe's input is its prompt behind the
unique prefix every probe carries (``[probe 0123456789ab] ``), estimated without a tokenizer
(``estimate_tokens``) plus the few tokens a chat message's framing adds; its output is at most
``max_tokens`` (reasoning tokens included: providers count them within the same limit). The
estimate is therefore an upper bound of what the model's ``pricing`` charges for the probes:
answers that stop before ``max_tokens`` cost less.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.core.measure import Prices, estimate_tokens, probe_cost

SECONDS_PER_DAY = 86_400
#: While the probes' spend of the last 24 h is at or over ``probe.budget_usd_per_day``, every
#: interval is this many times longer: probing goes on (an outage is still seen), at a
#: sixteenth of the cost, until old probes leave the 24 h and the spend is back under.
BUDGET_STRETCH = 16.0
#: What a probe's prompt is sent behind (its id's first 12 characters), as the runner builds it.
PROMPT_PREFIX = "[probe 0123456789ab] "
#: Tokens a chat message's framing adds to its text (role, separators), as OpenAI counts them.
MESSAGE_OVERHEAD_TOKENS = 7


class _Model(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def pricing(self) -> Prices | None: ...


class _Probe(Protocol):
    @property
    def interval(self) -> float: ...
    @property
    def prompt(self) -> str: ...
    @property
    def max_tokens(self) -> int: ...


class _Endpoint(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def model(self) -> _Model: ...
    @property
    def probe(self) -> _Probe: ...
    @property
    def input_tokens(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class SpendEstimate:
    """One endpoint's (or one of its kinds') expected probing spend."""

    #: The endpoint's id, with ``#kind`` for a kind (``Endpoint.key``).
    endpoint: str
    model: str
    probes_per_day: float
    #: Estimated input tokens of one probe.
    input_tokens: int
    #: The most output tokens one probe can be billed for (its ``max_tokens``).
    output_tokens: int
    #: USD a day at most; None when the model has no pricing.
    usd_per_day: float | None


def prompt_tokens(prompt: str) -> int:
    """The estimated input tokens of a probe sending ``prompt``."""
    return estimate_tokens(PROMPT_PREFIX + prompt) + MESSAGE_OVERHEAD_TOKENS


def estimate_spend(endpoints: Iterable[_Endpoint]) -> list[SpendEstimate]:
    """Each probe target's estimate (an endpoint, or one of its kinds, whose prompt is its
    ``input_tokens``), in the order given."""
    out = []
    for endpoint in endpoints:
        settings = endpoint.probe
        per_day = SECONDS_PER_DAY / settings.interval
        tokens_in = endpoint.input_tokens or prompt_tokens(settings.prompt)
        cost = probe_cost(endpoint.model.pricing, tokens_in, settings.max_tokens)
        out.append(
            SpendEstimate(
                endpoint=endpoint.key,
                model=endpoint.model.id,
                probes_per_day=per_day,
                input_tokens=tokens_in,
                output_tokens=settings.max_tokens,
                usd_per_day=None if cost is None else cost * per_day,
            )
        )
    return out


def total_per_day(estimates: Sequence[SpendEstimate]) -> float:
    """The sum of the known estimates (an endpoint whose model has no pricing adds nothing)."""
    return sum(e.usd_per_day for e in estimates if e.usd_per_day is not None)


def unpriced(estimates: Sequence[SpendEstimate]) -> list[str]:
    """The endpoints whose model has no pricing, so their spend is unknown."""
    return [e.endpoint for e in estimates if e.usd_per_day is None]


def over_budget(estimates: Sequence[SpendEstimate], budget: float) -> str | None:
    """Why these probes do not fit ``budget`` USD a day (the numbers), or None if they do."""
    total = total_per_day(estimates)
    if total <= budget:
        return None
    top = sorted(
        (e for e in estimates if e.usd_per_day), key=lambda e: e.usd_per_day or 0, reverse=True
    )
    biggest = ", ".join(f"{e.endpoint} {usd(e.usd_per_day)}" for e in top[:3])
    return (
        f"the probes would cost up to {usd(total)} a day ({len(estimates)} endpoint(s); most:"
        f" {biggest}), over the budget of {usd(budget)}: raise it, lengthen the intervals or"
        " lower max_tokens (`llm-monitor check-config FILE` lists every endpoint's estimate)"
    )


def usd(amount: float | None) -> str:
    """``$1.23``, ``$0.0042`` (four significant decimals below a cent), ``unknown``."""
    if amount is None:
        return "unknown"
    if amount >= 0.01 or amount == 0:
        return f"${amount:,.2f}"
    return f"${amount:.2g}"


def budget_stretch(spent: float, budget: float | None) -> float:
    """How many times longer the intervals are after ``spent`` USD in the last 24 h."""
    return BUDGET_STRETCH if budget is not None and spent >= budget else 1.0


@dataclass(frozen=True, slots=True)
class BudgetState:
    """The daemon's last comparison of the probes' spend with ``probe.budget_usd_per_day``."""

    budget_usd_per_day: float
    #: USD the stored probes of the 24 h before ``checked_at`` cost (every agent's).
    spent_usd: float
    checked_at: datetime
    #: How many times longer than configured the intervals are (1: not stretched).
    stretch: float

    @property
    def exhausted(self) -> bool:
        """Whether the budget is reached (the intervals are stretched)."""
        return self.stretch > 1

"""The project's exceptions.

::

    MonitorError                  base of everything the monitor raises on purpose
    ├── ConfigError               the configuration is invalid (holds every problem)
    ├── StoreError                the store cannot be used (unreachable, newer schema, ...)
    ├── UnknownModelError         a model id that the configuration does not define
    └── UnknownWindowError        a rollup window size that is neither configured nor stored

Failures while probing never escape as exceptions: the runner turns each one into an
``Outcome`` on the ``ProbeResult``.
"""

from __future__ import annotations

from collections.abc import Sequence


class MonitorError(Exception):
    """Base of the monitor's own exceptions."""


class ConfigError(MonitorError):
    """An invalid configuration; ``problems`` lists each as ``location: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(MonitorError):
    """The store cannot be used."""


class UnknownModelError(MonitorError):
    """A model id that the configuration does not define."""


class UnknownWindowError(MonitorError):
    """A rollup window size that is neither the configured one nor one the store holds."""

"""Many rows of one statement handed to the database driver without SQLAlchemy's per-row work.

An ``executemany`` through SQLAlchemy Core builds a parameter dictionary for every row and
passes each value through its type's bind processor one call at a time. For the window job's
rollups (49 columns) that was most of the write: 5,000 rollups took about 230 ms on machine B
(docs/benchmarks.md), of which the driver's own ``executemany`` was about 45 ms, and the write
holds the interpreter lock throughout, inside a transaction, where the job cannot stop for a
scrape (docs/architecture.md#rollups-profiles-and-reports).

``BulkWrite`` compiles the statement once for the engine's dialect, reads each object's values
in the compiled statement's parameter order with one ``operator.attrgetter`` (in C), and
converts only the columns whose type has a bind processor on that dialect (timestamps, JSON),
with that same processor: the driver receives the values SQLAlchemy would have given it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import attrgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Dialect, Insert, Table

T = TypeVar("T")


class BulkWrite(Generic[T]):
    """``statement`` (an INSERT into ``table`` of every column) for many objects at once; an
    object's value of a column is its attribute ``paths.get(column, column)`` (a dotted path
    reaches into a nested object)."""

    def __init__(
        self, statement: Insert, table: Table, dialect: Dialect, paths: Mapping[str, str]
    ) -> None:
        compiled = statement.compile(dialect=dialect)
        positional = compiled.positiontup
        names = list(positional) if positional is not None else list(compiled.params)
        columns = {column.name: column for column in table.columns}
        if sorted(names) != sorted(columns):
            # A statement that binds anything but one value per column (or a SQLAlchemy that
            # names its parameters differently) cannot be written this way.
            raise ValueError(
                f"{table.name}: the statement binds {sorted(names)}, not one value per column"
            )
        self.sql = compiled.string
        self._names = names
        self._positional = positional is not None
        self._values = attrgetter(*(paths.get(name, name) for name in names))
        self._processors = [
            (index, processor)
            for index, name in enumerate(names)
            if (processor := _bind_processor(columns[name], dialect)) is not None
        ]

    def parameters(self, objects: Iterable[T]) -> list[Any]:
        """The driver's parameters for ``objects``: a sequence per row for a positional
        parameter style, a mapping by parameter name for a named one."""
        rows: list[Any] = []
        processors = self._processors
        for one in objects:
            values = list(self._values(one))
            for index, processor in processors:
                values[index] = processor(values[index])
            rows.append(
                tuple(values) if self._positional else dict(zip(self._names, values, strict=True))
            )
        return rows

    def execute(self, connection: Connection, objects: Iterable[T]) -> None:
        """Write ``objects`` on ``connection`` (in its transaction), one ``executemany``."""
        rows = self.parameters(objects)
        if rows:
            connection.exec_driver_sql(self.sql, rows)


def _bind_processor(column: Any, dialect: Dialect) -> Any:
    """The function that SQLAlchemy applies to a value of ``column`` before the driver gets it
    (None when it passes the value as it is)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)

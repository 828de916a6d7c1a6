"""What every outward shape shares: how it becomes JSON and how its JSON schema is made.

Each thing the product shows (a probe result, a rollup, a model profile, a report, an API
envelope) is defined once, as a frozen dataclass whose fields carry their JSON types and
descriptions (``Annotated[..., Field(description=...)]``), with derived values as pydantic
``computed_field`` properties. That one definition gives:

- the JSON of the API, of ``probe --format json`` and of the report files (``dump``,
  ``dump_json``: pydantic serialises the dataclass, no hand-written ``to_json_dict``);
- the OpenAPI document's schemas (``schemas``), so that what the document says is what the
  responses hold (``additionalProperties: false``, every field required);
- the values the terminal, Markdown and CSV renderers and the web pages read, as attributes.

Plain stdlib dataclasses, not pydantic models: a probe result is made on the measuring loop for
every probe and up to 100,000 of them may wait in memory while the store is down, and a slotted
dataclass costs a tenth of a model's memory. pydantic reads the dataclasses through
``TypeAdapter``; nothing validates them when they are made (the code that makes them is typed).
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, cast

from pydantic import ConfigDict, PlainSerializer, TypeAdapter, WithJsonSchema

__all__ = ["SHAPE", "Shape", "UtcTime", "dump", "dump_json", "schemas", "utc_text"]

#: The pydantic configuration of every shape: a fixed set of fields, all of them always present
#: in the JSON (a field whose value is unknown is ``null``, never left out).
SHAPE = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def utc_text(moment: datetime, *, micros: bool = True) -> str:
    """ISO 8601 in UTC with ``Z`` (``2025-06-01T12:00:00.000000Z``), the year always in four
    digits (``strftime("%Y")`` writes year 879 as ``879``); ``micros=False`` stops at seconds."""
    utc = moment.astimezone(UTC)
    if micros:
        return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


#: A moment, written as ``utc_text`` writes it; in a schema, an RFC 3339 date-time string.
UtcTime = Annotated[
    datetime,
    PlainSerializer(utc_text, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Shape:
    """The base of every shape: ``@dataclass(frozen=True, slots=True) class X(Shape): ...``
    gets the shapes' pydantic configuration and ``to_json_dict()``."""

    __slots__ = ()
    __pydantic_config__: ClassVar[Any] = SHAPE

    def to_json_dict(self) -> dict[str, Any]:
        """This value as JSON-ready data (``dump``)."""
        data: dict[str, Any] = dump(self)
        return data


@functools.cache
def _adapter(kind: Hashable) -> TypeAdapter[Any]:
    return TypeAdapter(cast(Any, kind))


def dump(value: Any) -> Any:
    """``value`` (a shape, or a list or tuple of one shape) as JSON-ready Python data."""
    return _adapter(_kind_of(value)).dump_python(value, mode="json", by_alias=True)


def dump_json(value: Any, *, indent: int | None = None) -> bytes:
    """``value`` as UTF-8 JSON text, written by pydantic without an intermediate dict."""
    return _adapter(_kind_of(value)).dump_json(value, indent=indent, by_alias=True)


def _kind_of(value: Any) -> Any:
    if isinstance(value, list | tuple):
        if not value:
            return list[Any]
        return list[type(value[0])]  # type: ignore[misc]
    return type(value)


def schemas(kinds: Sequence[type[Any]], ref_template: str) -> dict[str, Any]:
    """The JSON schemas of ``kinds`` and of every shape they contain, by name, as they are
    serialised (computed fields included, aliases used), with references in ``ref_template``."""
    _keys, document = TypeAdapter.json_schemas(
        [(kind.__name__, "serialization", _adapter(cast(Hashable, kind))) for kind in kinds],
        ref_template=ref_template,
        by_alias=True,
    )
    definitions: dict[str, Any] = document.get("$defs", {})
    return definitions

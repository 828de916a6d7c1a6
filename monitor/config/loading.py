"""Reading the config file: YAML to validated schema to resolved Config, and every problem on
the way flattened into ``location: message`` lines (with the nearest known key for a typo)."""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from monitor.config.resolve import Config, resolve_config
from monitor.config.schema import ConfigSchema
from monitor.core.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("monitor.yaml")
CONFIG_ENV_VAR = "LLM_MONITOR_CONFIG"
#: ``off`` turns the probes' kernel receive stamps off (docs/design.md#arrival-time), for
#: comparison or in case of trouble; ``on``, the default, uses them where the system has them.
KERNEL_STAMPS_ENV_VAR = "LLM_MONITOR_KERNEL_STAMPS"


def kernel_stamps_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``$LLM_MONITOR_KERNEL_STAMPS`` (``on`` or ``off``, default ``on``) asks for
    kernel receive stamps; raise ConfigError for any other value."""
    value = (os.environ if environ is None else environ).get(KERNEL_STAMPS_ENV_VAR, "on")
    switch = value.strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError([f"{KERNEL_STAMPS_ENV_VAR}: must be 'on' or 'off', not {value!r}"])
    return switch == "on"


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file when ``--config`` is not given: ``$LLM_MONITOR_CONFIG`` when it is set
    (an explicit choice wins over a file that happens to be in the directory), else
    ``./monitor.yaml``."""
    env = (os.environ if environ is None else environ).get(CONFIG_ENV_VAR, "").strip()
    return Path(env) if env else DEFAULT_CONFIG_PATH


def load_config(
    path: Path | str,
    *,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
    section_models: Mapping[str, type[BaseModel]] | None = None,
) -> Config:
    """Read, validate and resolve a config file; raise ConfigError listing every problem.

    ``section_models`` validates sections that the config keeps as plain mappings (the
    ``simulator:`` section, which the command line checks with the simulator's models); their
    problems are listed with the others, under the section's name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse_config(
        text,
        source=path,
        environ=environ,
        resolve_secrets=resolve_secrets,
        section_models=section_models,
    )


def parse_config(
    text: str,
    *,
    source: Path | None = None,
    environ: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
    section_models: Mapping[str, type[BaseModel]] | None = None,
) -> Config:
    """Validate YAML text and resolve it into a Config; raise ConfigError on any problem
    (``section_models`` as for :func:`load_config`)."""
    where = str(source) if source else "<config>"
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}: line {mark.line + 1}, column {mark.column + 1}" if mark else where
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{at}: invalid YAML: {problem}"]) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError([f"{where}: the top level must be a mapping of sections"])
    schema = _validate(raw, section_models or {})
    env = os.environ if environ is None else environ
    kernel_stamps_wanted(env)  # a bad switch is a config problem, told before anything runs
    return resolve_config(schema, source=source, environ=env, resolve_secrets=resolve_secrets)


def _validate(raw: dict[Any, Any], section_models: Mapping[str, type[BaseModel]]) -> ConfigSchema:
    """The file's schema; raise ConfigError listing the problems of the whole file, then those
    of each section that ``section_models`` validates."""
    problems: list[str] = []
    schema: ConfigSchema | None = None
    try:
        schema = ConfigSchema.model_validate(raw)
    except ValidationError as exc:
        problems = flatten_errors(exc, raw)
    for name, model in section_models.items():
        section = raw.get(name)
        if not isinstance(section, dict):
            continue  # absent, or not a mapping: the schema has said so
        try:
            model.model_validate(section)
        except ValidationError as exc:
            problems += flatten_errors(exc, section, model=model, prefix=name)
    if schema is None or problems:
        raise ConfigError(problems)
    return schema


def flatten_errors(
    exc: ValidationError,
    raw: Any,
    *,
    model: type[BaseModel] = ConfigSchema,
    prefix: str = "",
) -> list[str]:
    """Turn pydantic's errors into ``location: message`` lines, naming endpoints by id.

    ``raw`` is what ``model`` validated; ``prefix`` is where it sits in the file (a section's
    name), put in front of every location."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        location = _location(error["loc"], raw, prefix)
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = _unknown_key_message(error["loc"], model)
        if "\n" in message and not location:
            lines.extend(message.splitlines())
            continue
        lines.append(f"{location}: {message}" if location else message)
    return lines


def _location(loc: tuple[int | str, ...], raw: Any, prefix: str) -> str:
    parts: list[str] = [prefix] if prefix else []
    node = raw
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label += f" ({node['id']})"
            else:
                node = None
            parts.append(label)
        else:
            # pydantic reports union branches and validators by name; they say nothing to a user.
            if item.startswith("function-") or item in {"str", "int", "float", "dict"}:
                continue
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}" if parts else item)
    return "".join(parts)


def _unknown_key_message(loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    """What to say about an unknown key: the nearest key allowed in its place, if one is close."""
    key = loc[-1] if loc else None
    known = sorted({name for model in _models_at(loc[:-1], root) for name in model.model_fields})
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6) if known else []
    if close:
        return f"unknown key; did you mean `{close[0]}`?"
    return "unknown key (not allowed here; check its spelling and section)"


def _models_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[type[BaseModel]]:
    """The models that may sit at ``loc`` (a pydantic error location) inside ``root``."""
    models: list[type[BaseModel]] = [root]
    for item in loc:
        if isinstance(item, int):
            continue  # an item of a list: its models were found with the list's field
        fields = [m.model_fields[item] for m in models if item in m.model_fields]
        if fields:
            models = [m for f in fields for m in _models_in(f.annotation)]
        else:  # a union branch or validator name that pydantic puts in the location
            models = [m for m in models if m.__name__ == item] or models
    return models


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models inside a type: itself, or those of its optionals, unions, lists."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    if get_origin(annotation) in (Union, types.UnionType, Annotated, tuple, list, dict):
        for arg in get_args(annotation):
            yield from _models_in(arg)

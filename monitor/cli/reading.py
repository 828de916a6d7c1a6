"""Commands that read the store: ``report`` (rollups over a range) and ``profile`` (a model)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from monitor.cli.base import config_option
from monitor.cli.store_reading import (
    check_demo_store,
    reading_config,
    reading_console,
    reading_store,
    store_option,
    time_option,
)


@click.command()
@config_option
@store_option
@click.option(
    "--window",
    "window_text",
    metavar="DURATION",
    default=None,
    help="Rollup window size (default: the configured rollup.window).",
)
@click.option(
    "--since",
    "since_text",
    metavar="TIME",
    default=None,
    help="Start: ISO 8601 with Z or an offset, a date, or 24h-style before now.",
)
@click.option(
    "--until",
    "until_text",
    metavar="TIME",
    default=None,
    help="End (default: the end of the last complete window); same forms as --since.",
)
@click.option("--model", "model_id", metavar="ID", default=None, help="Only this model.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "markdown", "json", "csv"]),
    default="table",
    show_default=True,
)
def report(
    config_path: Path | None,
    store_url: str | None,
    window_text: str | None,
    since_text: str | None,
    until_text: str | None,
    model_id: str | None,
    output_format: str,
) -> None:
    """The rollup report from the store: each model's live card, each endpoint's summary over
    the range, and every window's rollups. Default range: the last complete window.

    Exit 0, or 2 for an unknown model, a bad time or window, or a store that cannot be read.
    """
    from monitor.core.timeparse import describe_window, parse_window
    from monitor.reports.build import build_report
    from monitor.reports.formats import render_csv, render_json, render_markdown
    from monitor.reports.terminal import render_table
    from monitor.service.aggregator import window_seconds
    from monitor.service.queries import unknown_model_message, window_is_known

    config, demo_config = reading_config(config_path, store_url)
    now = datetime.now(UTC)
    since = time_option(since_text, "--since", now)
    until = time_option(until_text, "--until", now)
    if since is not None and until is not None and since >= until:
        raise click.BadParameter(
            f"{since_text!r} is not before --until {until_text!r}", param_hint="--since"
        )
    if model_id is not None and config.model(model_id) is None:
        raise click.BadParameter(unknown_model_message(config, model_id), param_hint="--model")
    window: int | None = None
    if window_text is not None:
        try:
            window = parse_window(window_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--window") from None
    with reading_store(config, from_option=store_url is not None) as store:
        if demo_config:
            check_demo_store(config, store)
        if window is not None and not window_is_known(config, store, window):
            raise click.BadParameter(
                f"{describe_window(window)} is not the configured rollup window "
                f"({describe_window(window_seconds(config))}) and the store holds no rollups "
                "of that size",
                param_hint="--window",
            )
        built = build_report(
            config, store, now=now, since=since, until=until, window=window, model=model_id
        )
    if output_format == "json":
        click.echo(render_json(built), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(built), nl=False)
    elif output_format == "csv":
        click.echo(render_csv(built), nl=False)
    else:
        render_table(built, reading_console())


@click.command()
@click.argument("model_id", metavar="MODEL")
@config_option
@store_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
def profile(
    model_id: str, config_path: Path | None, store_url: str | None, output_format: str
) -> None:
    """The aggregated profile of MODEL: its facts and live numbers (the API's document as
    JSON). Exit 0, or 2 for an unknown model or a store that cannot be read."""
    from monitor.reports.build import model_profile
    from monitor.reports.terminal import render_profile
    from monitor.service.aggregator import profile_json, window_seconds
    from monitor.service.queries import unknown_model_message

    config, demo_config = reading_config(config_path, store_url)
    spec = config.model(model_id)
    if spec is None:
        raise click.BadParameter(unknown_model_message(config, model_id), param_hint="MODEL")
    with reading_store(config, from_option=store_url is not None) as store:
        if demo_config:
            check_demo_store(config, store)
        live = model_profile(config, store, model_id, datetime.now(UTC))
    if output_format == "json":
        click.echo(json.dumps(profile_json(config, live), indent=2, ensure_ascii=False))
    else:
        render_profile(
            spec,
            live,
            window_seconds(config),
            config.schema.profile.uptime_window,
            reading_console(),
        )

"""The operator's commands: `init` creates a network, `serve` serves the REST API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

import valuation
from api.cli.common import (
    CommandError,
    DbOption,
    LogKeyOption,
    console,
    db_url,
    err,
    log_key_path,
    new_network,
    open_ledger,
)
from ledger.db import sqlite_file
from ledger.service import DEFAULT_NETWORK, DEFAULT_ORIGIN, NetworkConfig


def network_config(data: Any) -> NetworkConfig:
    """Read `multitude init --config`: a preset name or explicit params, and founders."""
    if not isinstance(data, dict):
        raise CommandError("the config must be a JSON object")
    unknown = set(data) - {"network", "origin", "valuation", "founders"}
    if unknown:
        raise CommandError(f"unknown field {sorted(unknown)[0]!r} in the config")
    spec = data.get("valuation", {"preset": "example"})
    if isinstance(spec, dict) and set(spec) == {"preset"}:
        preset = spec["preset"]
        if preset not in valuation.PRESETS:
            raise CommandError(
                f"unknown preset {preset!r}: use one of {', '.join(valuation.PRESETS)}"
            )
        spec = valuation.PRESETS[preset]
    founders = data.get("founders", [])
    if not isinstance(founders, list) or not all(isinstance(f, dict) for f in founders):
        raise CommandError("founders must be a list of objects")
    founders = [_founder_amounts(f) for f in founders]
    return NetworkConfig(
        network=str(data.get("network", DEFAULT_NETWORK)),
        origin=str(data.get("origin", DEFAULT_ORIGIN)),
        valuation=spec,
        founders=founders,
    )


def _founder_amounts(founder: dict[str, Any]) -> dict[str, Any]:
    """The config is typed by people: accept 10 or 99.5 where the genesis wants "10", "99.5"."""
    out = dict(founder)
    for field in ("reputation", "tokens"):
        value = out.get(field)
        if isinstance(value, bool):
            raise CommandError(f"founder {field} must be a number, not {value}")
        if isinstance(value, int | float):
            try:
                out[field] = valuation.format_amount(valuation.parse_amount(repr(value)))
            except valuation.ValuationError as exc:
                raise CommandError(f"founder {field} {value}: {exc}") from None
    return out


def init(
    config: Annotated[
        Path, typer.Option("--config", help="JSON: network, origin, valuation, founders")
    ],
    db: DbOption = None,
    log_key: LogKeyOption = None,
) -> None:
    """Create a network: sign its genesis entry with the log key (created if missing)."""
    url = db_url(db)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"config file {config} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read config {config}: {exc}") from None
    cfg = network_config(data)
    file = sqlite_file(url)
    fresh = file is not None and not file.exists()
    ledger = open_ledger(url, log_key)
    try:
        if not ledger.is_empty():
            raise CommandError(f"{url} already holds a network; a log is created only once")
        ledger, appended = new_network(ledger, log_key_path(url, log_key), cfg)
    except BaseException:
        if fresh and file is not None:  # a failed init leaves no empty database behind
            ledger.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
        raise
    console.print(
        f"created network [bold]{cfg.network}[/] (origin {cfg.origin}) in {url}; "
        f"genesis {appended.id}"
    )
    console.print(f"log verifier key: {ledger.network().verifier_key}")


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    log_key: LogKeyOption = None,
) -> None:
    """Serve the REST API (docs at /docs); on an empty database, create the default network."""
    import uvicorn

    url = db_url(db)
    ledger = open_ledger(url, log_key)
    if ledger.is_empty():
        default = NetworkConfig(DEFAULT_NETWORK, DEFAULT_ORIGIN, valuation.PRESETS["example"])
        ledger, _ = new_network(ledger, log_key_path(url, log_key), default)
        err.print(f"created the default network {DEFAULT_NETWORK!r} (preset example) in {url}")
    network = ledger.network()
    ledger.engine.dispose()
    os.environ["MULTITUDE_DB"] = url
    os.environ["MULTITUDE_LOG_KEY"] = str(log_key_path(url, log_key).resolve())
    err.print(
        f"serving network {network.name!r} on http://{host}:{port} (API docs: http://{host}:{port}/docs)"
    )
    uvicorn.run(
        "api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def register(app: typer.Typer) -> None:
    """Add `init` and `serve` to `app`."""
    app.command("init")(init)
    app.command("serve")(serve)

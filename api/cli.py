"""The `multitude` command (SPEC section 8). Every failure is one sentence and a non-zero exit."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

import valuation
from api.settings import default_log_key_path
from ledger import keys
from ledger.db import DEFAULT_URL, make_engine, sqlite_file, unavailable_on_outage, upgrade
from ledger.errors import LedgerError
from ledger.service import DEFAULT_NETWORK, DEFAULT_ORIGIN, Appended, Ledger, NetworkConfig

app = typer.Typer(
    name="multitude",
    help="A signed, append-only ledger of contributions and peer evaluations, valued live.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class CommandError(Exception):
    """A failure to report to the person at the terminal in one sentence."""


DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help="SQLAlchemy database URL [default: $MULTITUDE_DB, else sqlite:///multitude.db]"
    ),
]
LogKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--log-key",
        help="the log's signing key file [default: multitude-log.key beside the database]",
    ),
]


def db_url(db: str | None) -> str:
    return db or os.environ.get("MULTITUDE_DB") or DEFAULT_URL


def log_key_path(db: str, log_key: Path | None) -> Path:
    return log_key or default_log_key_path(db)


def open_ledger(
    db: str, log_key: Path | None, *, create_key: bool = False, existing: bool = False
) -> Ledger:
    """Open (and migrate) the database; load the log key, creating it when asked. With
    `existing`, a SQLite file that is not there is an error rather than a new database."""
    file = sqlite_file(db)
    if existing and file is not None and not file.exists():
        raise CommandError(f"there is no database at {file}: give --db, or create one with init")
    engine = make_engine(db)
    with unavailable_on_outage():
        upgrade(engine)
    path = log_key_path(db, log_key)
    if path.exists():
        key = keys.read_key(path)
    elif create_key:
        key = keys.generate()
        keys.write_key(path, key)
        err.print(f"created the log key {path} (mode 0600): keep it safe")
    else:
        key = None
    return Ledger(engine, key)


def new_network(ledger: Ledger, key_path: Path, config: NetworkConfig) -> tuple[Ledger, Appended]:
    """Sign the genesis of an empty log, creating the log key file if there is none yet.

    A new key file is written first (so a network never exists without its key) and removed
    again if the genesis is refused, so a failed `init` leaves nothing behind to trip over."""
    created = not key_path.exists()
    if created:
        key = keys.generate()
        keys.write_key(key_path, key)
        ledger = Ledger(ledger.engine, key)
    try:
        appended = ledger.create_network(config)
    except BaseException:
        if created:
            key_path.unlink(missing_ok=True)
        raise
    if created:
        err.print(f"created the log key {key_path} (mode 0600): keep it safe")
    return ledger, appended


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


@app.command()
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


@app.command()
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


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="where to write the secret key (mode 0600)")],
) -> None:
    """Make a member's key pair: write the secret key file, print the public key."""
    key = keys.generate()
    keys.write_key(out, key)
    console.print(keys.public_hex(key))


def _register_commands() -> None:
    # The commands of each user live in their own module; this is the one place they meet.
    from api import cli_audit, cli_check, cli_explain, cli_member, demo

    for module in (cli_member, cli_audit, cli_check, cli_explain, demo):
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except (CommandError, LedgerError, valuation.ValuationError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        err.print(f"[red]error:[/] {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}")
        sys.exit(1)

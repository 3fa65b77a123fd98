"""The operator's commands: `init` creates a network, `serve` serves the REST API."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

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

if TYPE_CHECKING:
    from collections.abc import Callable

    from nacl.signing import VerifyKey

    from ledger.service import NetworkConfig


def network_config(data: Any) -> Callable[[VerifyKey], NetworkConfig]:
    """Read `multitude init --config`: a preset name or explicit params (backfeed/2's
    defaults when the config names none), and founders.

    Everything is checked now; what is returned fills in the defaults that depend on the log's
    public key (SPEC section 8): the network `multitude-<8 hex>` and the origin
    `localhost/<network>`."""
    import valuation
    from ledger import keys
    from ledger.service import NetworkConfig

    if not isinstance(data, dict):
        raise CommandError("the config must be a JSON object")
    unknown = set(data) - {"network", "origin", "valuation", "founders"}
    if unknown:
        raise CommandError(f"unknown field {sorted(unknown)[0]!r} in the config")
    spec = data.get("valuation", valuation.DEFAULT_VALUATION)
    if isinstance(spec, dict) and set(spec) == {"preset"}:
        preset = spec["preset"]
        if preset not in valuation.PRESETS:
            raise CommandError(
                f"unknown preset {preset!r}: use one of {', '.join(valuation.PRESETS)}"
            )
        spec = valuation.PRESETS[preset]
    if isinstance(spec, dict) and "params" not in spec:
        # `{"algorithm": "backfeed/2"}` alone means its defaults, which the genesis then
        # names field by field.
        try:
            spec = valuation.resolve_params(spec).to_json()
        except valuation.ValuationError as exc:
            raise CommandError(f"the valuation in the config is invalid: {exc}") from None
    founders = data.get("founders", [])
    if not isinstance(founders, list) or not all(isinstance(f, dict) for f in founders):
        raise CommandError("founders must be a list of objects")
    founders = [_founder_amounts(f) for f in founders]

    def config(log_key: VerifyKey) -> NetworkConfig:
        network = str(data.get("network", keys.default_network(log_key)))
        origin = str(data.get("origin", keys.default_origin(network)))
        return NetworkConfig(network, origin, spec, founders)

    return config


def _founder_amounts(founder: dict[str, Any]) -> dict[str, Any]:
    """The config is typed by people: accept 10 or 99.5 where the genesis wants "10", "99.5"."""
    import valuation

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
        Path,
        typer.Option(
            "--config",
            metavar="FILE",
            help="JSON: network, origin, valuation, founders. The network name must be unique "
            "to this log (an entry signed for one network is refused by every other); "
            "default multitude-<8 hex of the log key>. The origin's default is "
            "localhost/<network>.",
        ),
    ],
    db: DbOption = None,
    log_key: LogKeyOption = None,
) -> None:
    """Create a network: sign its genesis with the log key.

    The log key is created if missing. Prints the log's verifier key, which members give to
    `multitude prove --verifier`."""
    from ledger.db import sqlite_file

    url = db_url(db)
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CommandError(f"config file {config} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read config {config}: {exc}") from None
    settings = network_config(data)
    file = sqlite_file(url)
    fresh = file is not None and not file.exists()
    ledger = open_ledger(url, log_key)
    try:
        if not ledger.is_empty():
            raise CommandError(f"{url} already holds a network; a log is created only once")
        ledger, appended = new_network(ledger, log_key_path(url, log_key), settings)
    except BaseException:
        if fresh and file is not None:  # a failed init leaves no empty database behind
            ledger.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{file}{suffix}").unlink(missing_ok=True)
        raise
    network = ledger.network()
    console.print(
        f"created network [bold]{network.name}[/] (origin {network.origin}) in {url}; "
        f"genesis {appended.id}"
    )
    console.print(f"log verifier key: {network.verifier_key}")


def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(metavar="N", help="worker processes")] = 1,
    log_key: LogKeyOption = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin",
            metavar="ORIGIN",
            help="let the pages of this origin (https://dash.example.org; * for any) call the "
            "API from a browser; repeat for several (default: none)",
        ),
    ] = None,
    write_limit: Annotated[
        int | None,
        typer.Option(
            "--write-limit",
            metavar="N",
            min=1,
            help="writes (POST /v1/entries, /v1/entries/batch) a client address may send a "
            "minute, counted in each worker (default: 600)",
        ),
    ] = None,
    no_write_limit: Annotated[
        bool, typer.Option("--no-write-limit", help="no limit on writes (a private server)")
    ] = False,
) -> None:
    """Serve the REST API and the dashboard (API docs at /docs).

    On an empty database it first creates the default network: multitude-<8 hex of the log
    key>, origin localhost/<network>, backfeed/2 with its default params. Prints the log's
    verifier key."""
    import uvicorn

    import valuation
    from ledger import keys
    from ledger.service import NetworkConfig

    limits = _limit_settings(cors_origin or [], write_limit, no_write_limit)
    url = db_url(db)
    _must_be_free(host, port)
    ledger = open_ledger(url, log_key)
    if ledger.is_empty():

        def default(log_public: VerifyKey) -> NetworkConfig:
            network = keys.default_network(log_public)
            return NetworkConfig(network, keys.default_origin(network), valuation.DEFAULT_VALUATION)

        ledger, _ = new_network(ledger, log_key_path(url, log_key), default)
        algorithm = valuation.DEFAULT_VALUATION["algorithm"]
        err.print(f"created the default network {ledger.network().name!r} ({algorithm}) in {url}")
    network = ledger.network()
    ledger.engine.dispose()
    os.environ["MULTITUDE_DB"] = url
    os.environ["MULTITUDE_LOG_KEY"] = str(log_key_path(url, log_key).resolve())
    os.environ.update(limits)  # the workers read their settings from the environment
    err.print(
        f"serving network {network.name!r} ({network.origin}) on http://{host}:{port} "
        f"(API docs: http://{host}:{port}/docs)"
    )
    err.print(f"log verifier key: {network.verifier_key}", highlight=False)
    appends = None
    if workers > 1:
        from ledger.append_process import AppendProcess

        # One process appends for every worker, so that their appends share commits.
        appends = AppendProcess(url, log_key_path(url, log_key).resolve())
        os.environ.update(appends.environment())
    try:
        uvicorn.run(
            "api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            # Not even formatted: at "warning" the access lines are dropped, but only after
            # their arguments were worked out, on every request.
            access_log=False,
        )
    finally:
        if appends is not None:
            appends.stop()


def _must_be_free(host: str, port: int) -> None:
    """Refuse a port another server holds before saying anything is served on it."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CommandError(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror}): is another server running? "
                "give another --port"
            ) from None


def _limit_settings(origins: list[str], limit: int | None, no_limit: bool) -> dict[str, str]:
    """The environment that gives the workers these limits (api/limits.py), checked here."""
    from pydantic import ValidationError

    from api.settings import Settings

    if no_limit and limit is not None:
        raise CommandError("give --write-limit N or --no-write-limit, not both")
    env: dict[str, str] = {}
    if origins:
        env["MULTITUDE_CORS_ORIGINS"] = json.dumps(origins)
    if no_limit or limit is not None:
        env["MULTITUDE_WRITE_LIMIT_PER_MINUTE"] = "0" if no_limit else str(limit)
    try:
        Settings(cors_origins=origins)
    except ValidationError as exc:
        raise CommandError(
            f"--cors-origin {exc.errors()[0]['msg'].removeprefix('Value error, ')}"
        ) from None
    return env


def register(app: typer.Typer) -> None:
    """Add `init` and `serve` to `app`."""
    app.command("init")(init)
    app.command("serve")(serve)

"""`multitude export` and `multitude verify`: the audit bundle (SPEC section 7) on the command line.

`register(app)` adds both commands to the `multitude` Typer app. The work is done by
`ledger.export.export_bundle` and `ledger.audit.verify_bundle`; here are only the options, a
progress bar (drawn on a terminal only, never when stdout is a pipe or a file) and the summary.
`verify` exits 0 when every check holds and 1 naming the first failing file, line and check;
`--json` prints the same result as one JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import (
    DbOption,
    LogKeyOption,
    ReportJsonOption,
    db_url,
    log_key_path,
    open_ledger,
    progress_bar,
)

if TYPE_CHECKING:
    from ledger.audit import AuditReport


def export(
    directory: Annotated[
        Path, typer.Argument(metavar="DIRECTORY", help="the directory to write the bundle into")
    ],
    db: DbOption = None,
    tree_size: Annotated[
        int | None,
        typer.Option(
            "--tree-size", metavar="N", help="export the log at this size [default: the latest]"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="write into a directory that is not empty")
    ] = False,
    log_key: LogKeyOption = None,
) -> None:
    """Write the audit bundle of the log.

    leaves.jsonl, checkpoint, log.vkey and state.jsonl, into DIRECTORY."""
    from ledger import keys
    from ledger.export import export_bundle

    url = db_url(db)
    ledger = open_ledger(url, log_key, existing=True)
    # The log key is needed only to sign a checkpoint at a size the log signed none at.
    key_path = log_key_path(url, log_key)
    key = keys.read_key(key_path) if key_path.exists() else None
    with progress_bar("exporting", unit="leaves") as progress:
        result = export_bundle(
            ledger, directory, tree_size, force=force, log_key=key, progress=progress
        )
    ledger.engine.dispose()
    signed = "; its checkpoint was signed now with the log key" if result.signed_now else ""
    typer.echo(f"exported tree size {result.tree_size} to {result.directory}{signed}")
    typer.echo(f"root  {result.root}")
    typer.echo(f"state {result.state_root}")


def verify(
    directory: Annotated[Path, typer.Argument(metavar="DIRECTORY", help="the bundle directory")],
    since: Annotated[
        Path | None,
        typer.Option(
            "--since",
            metavar="FILE",
            help="an older checkpoint of the same log that the bundle must extend",
        ),
    ] = None,
    as_json: ReportJsonOption = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", metavar="N", min=1, help="processes checking signatures in parallel"
        ),
    ] = 1,
) -> None:
    """Verify an audit bundle offline.

    Signatures, seqs, order, root, valuation and state.jsonl: exit 0, or 1 naming the first
    line and check that fail."""
    from ledger.audit import verify_bundle

    with progress_bar("verifying", unit="bytes", enabled=not as_json) as progress:
        report = verify_bundle(directory, since=since, progress=progress, jobs=jobs)
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        _summary(report)
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `export` and `verify` to `app`."""
    app.command("export")(export)
    app.command("verify")(verify)


def _summary(report: AuditReport) -> None:
    from ledger.audit import LEAVES

    if report.failure is not None:
        failure = report.failure
        typer.echo(f"error: verification failed ({failure.check}): {failure}", err=True)
        if failure.file == LEAVES and failure.line and failure.line > 1:
            typer.echo(f"lines 1 to {failure.line - 1} passed every check of a line")
        elif report.entries:
            typer.echo(f"all {report.entries} leaves passed every check of a line")
        return
    typer.echo(
        f"OK: {report.entries} entries, {report.members} members, {report.contributions} "
        f"contributions of network {report.network!r} ({report.origin}) in {report.seconds:.2f} s"
    )
    typer.echo(f"root  {report.root}")
    typer.echo(f"state {report.state_root}")
    if report.since is not None:
        typer.echo(f"extends the checkpoint of tree size {report.since}")

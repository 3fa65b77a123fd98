"""`multitude simulate` and `multitude whatif`: how the rules behave, measured.

`simulate` runs the attack scenarios of `ledger.simulate` (each against its counterfactual,
through the real append path on throwaway databases) under each algorithm, and the
honest-accuracy run; `whatif` replays an exported bundle under other rules
(`ledger.whatif.replay_under`). Here are only the options, the tables and a progress bar (on a
terminal only). `--json` prints the same result as one JSON document.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import CommandError, ReportJsonOption, console, progress_bar

if TYPE_CHECKING:
    from rich.console import Console

    from ledger.simulate import Report
    from ledger.whatif import WhatIf

_UNIT = Decimal(10**9)


def simulate(
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="the same seed gives the same table")
    ] = 1,
    algorithm: Annotated[
        list[str] | None,
        typer.Option(
            "--algorithm",
            metavar="NAME",
            help="an algorithm to run (repeat for several) [default: backfeed/1 and backfeed/2, "
            "those this version knows]",
        ),
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario", metavar="NAME", help="run only this scenario (repeat for several)"
        ),
    ] = None,
    sybils: Annotated[
        int, typer.Option("--sybils", metavar="N", min=1, max=200, help="keys in the sybil ring")
    ] = 10,
    accuracy: Annotated[
        bool, typer.Option("--accuracy/--no-accuracy", help="run the honest-accuracy run too")
    ] = True,
    as_json: ReportJsonOption = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="print the tables as Markdown (for the docs)")
    ] = False,
) -> None:
    """Attack simulations: each scenario against its counterfactual, under each algorithm."""
    from rich.console import Console

    from ledger import simulate as sim

    algorithms = algorithm or [a for a in sim.DEFAULT_ALGORITHMS if _known(a)]
    status = Console(stderr=True)
    show = status.is_terminal and not as_json and not markdown

    def progress(what: str) -> None:
        if show:
            status.print(f"running {what}…", highlight=False)

    try:
        report = sim.run(
            seed=seed,
            algorithms=algorithms,
            only=scenario,
            sybils=sybils,
            accuracy=accuracy,
            progress=progress,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_json(), ensure_ascii=False))
        return
    if markdown:
        typer.echo(_markdown(report))
        return
    _simulation_tables(report)


def _known(algorithm: str) -> bool:
    from ledger.simulate import valuation_of
    from valuation import ParamsError

    try:
        valuation_of(algorithm)
    except ParamsError:
        return False
    return True


def _out() -> Console:
    """The terminal's console on a terminal; in a pipe or a file, one wide enough that no
    cell is cut (a reader greps it)."""
    from rich.console import Console

    return console if console.is_terminal else Console(soft_wrap=True, width=160)


def _points(share: int) -> str:
    """A change of share of R, in units of 10^-9, as signed percentage points."""
    return f"{Decimal(share) * 100 / _UNIT:+.2f} pp"


def _amount(units: int, sign: bool = True) -> str:
    return f"{Decimal(units) / _UNIT:{'+' if sign else ''},.2f}"


_HEADERS = (
    "scenario",
    "algorithm",
    "attacker",
    "attacker gain, share",
    "attacker gain, tokens",
    "honest lost, share",
    "honest lost, tokens",
    "R with / without",
)
_ACCURACY_HEADERS = (
    "algorithm",
    "contributions",
    "evaluations",
    "final score vs true quality",
    "reputation vs mean true quality",
)


def _rows(report: Report) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for outcome in report.outcomes:
        attacker = outcome.attacker
        who = (
            ", ".join(attacker)
            if len(attacker) <= 2
            else f"{attacker[0]} + {len(attacker) - 1} keys"
        )
        refused = outcome.attack.refused + outcome.counterfactual.refused
        rows.append(
            (
                outcome.scenario,
                outcome.algorithm,
                who,
                _points(outcome.attacker_share_gain),
                _amount(outcome.attacker_tokens_gain),
                _points(outcome.honest_share_loss),
                _amount(outcome.honest_tokens_loss),
                f"{_amount(outcome.attack.total_reputation, False)} / "
                f"{_amount(outcome.counterfactual.total_reputation, False)}"
                + (f" ({refused} refused)" if refused else ""),
            )
        )
    return rows


def _accuracy_rows(report: Report) -> list[tuple[str, ...]]:
    return [
        (
            result.algorithm,
            str(result.contributions),
            str(result.evaluations),
            f"{result.score_vs_quality:.3f}",
            f"{result.reputation_vs_quality:.3f}",
        )
        for result in report.accuracy
    ]


def _markdown(report: Report) -> str:
    def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
        return [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---" for _ in headers) + "|",
            *("| " + " | ".join(row) + " |" for row in rows),
        ]

    lines = table(_HEADERS, _rows(report))
    if report.accuracy:
        lines += ["", *table(_ACCURACY_HEADERS, _accuracy_rows(report))]
    return "\n".join(lines)


def _simulation_tables(report: Report) -> None:
    from rich.table import Table

    table = Table(
        title=f"attacks against their counterfactual (seed {report.seed})", title_justify="left"
    )
    for column in _HEADERS:
        table.add_column(
            column, justify="left" if column in ("scenario", "algorithm", "attacker") else "right"
        )
    for row in _rows(report):
        table.add_row(*row)
    out = _out()
    out.print(table)
    if report.accuracy:
        accuracy = Table(
            title="honest accuracy (Spearman's rank correlation)", title_justify="left"
        )
        for column in _ACCURACY_HEADERS:
            accuracy.add_column(column, justify="left" if column == "algorithm" else "right")
        for row in _accuracy_rows(report):
            accuracy.add_row(*row)
        out.print(accuracy)
    measured = (
        "settled reputation plus pending claims"
        if report.pending_measured
        else "reputation as the state holds it"
    )
    out.print(
        "Gains are (with the attack) - (without it); losses (without) - (with). "
        f"Reputation measured: {measured}.",
        highlight=False,
    )


def whatif(
    bundle: Annotated[
        Path, typer.Argument(metavar="DIRECTORY", help="an exported bundle directory")
    ],
    algorithm: Annotated[
        str,
        typer.Option(
            "--algorithm",
            metavar="NAME",
            help="the algorithm to replay the log under: backfeed/1 or backfeed/2",
        ),
    ],
    params: Annotated[
        Path | None,
        typer.Option(
            "--params",
            metavar="FILE",
            help="a JSON file: the algorithm's params, a whole valuation object, or "
            '{"preset": NAME}, one of backfeed/1\'s presets (example, dmag) '
            "[default: the algorithm's defaults for each of the log's contribution types, "
            "with the values its evaluations take; backfeed/1's are its example preset's]",
        ),
    ] = None,
    top: Annotated[
        int,
        typer.Option(
            "--top", metavar="N", min=0, help="members to list, biggest movers first (0: all)"
        ),
    ] = 20,
    as_json: ReportJsonOption = False,
) -> None:
    """Replay an exported log under other rules: each member's figures and rank under both."""
    from ledger.whatif import log_valuation, replay_under, valuation_for

    given: dict[str, Any] | None = None
    if params is not None:
        try:
            given = json.loads(params.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CommandError(f"cannot read {params}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise CommandError(f"{params} is not a JSON document: {exc}") from None
        if not isinstance(given, dict):
            raise CommandError(f"{params} must hold a JSON object")
    other = valuation_for(algorithm, given, like=log_valuation(bundle) if given is None else None)
    with progress_bar("replaying", unit="bytes", enabled=not as_json) as progress:
        result = replay_under(bundle, other, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False))
        return
    _whatif_table(result, top)


def _whatif_table(result: WhatIf, top: int) -> None:
    print_ = _out().print
    print_(
        f"checkpoint {result.origin}, tree size {result.tree_size}, root {result.root}",
        highlight=False,
    )
    print_(
        f"replayed under {result.algorithm} (the log's rules) and {result.other_algorithm} "
        f"in {result.seconds:.1f} s; R {_amount(result.total_reputation[0], False)} → "
        f"{_amount(result.total_reputation[1], False)}",
        highlight=False,
    )
    refused = sum(result.refused.values())
    if refused:
        kinds = ", ".join(f"{n} {kind}" for kind, n in result.refused.items())
        print_(
            f"{refused} entries refused under {result.other_algorithm}: {kinds}", highlight=False
        )
        for refusal in result.refusals:
            print_(f"  line {refusal.line}: {refusal.reason}", highlight=False)
    else:
        print_(f"no entry is refused under {result.other_algorithm}", highlight=False)
    shown = result.movers if top == 0 else result.movers[:top]
    from rich.table import Table

    table = Table(
        title=f"members, biggest movers first ({len(shown)} of {len(result.movers)}): "
        f"{result.algorithm} (the log's rules) → {result.other_algorithm}",
        title_justify="left",
    )
    for column in ("name", "member", "rank", "moved", "reputation", "tokens", "influence"):
        table.add_column(column, justify="left" if column in ("name", "member") else "right")
    for mover in shown:
        b, a = mover.before, mover.after
        table.add_row(
            mover.name,
            mover.member[:8] + "…",
            f"{b.rank} → {'-' if a is None else a.rank}",
            f"{mover.rank_change:+d}",
            _pair(
                _amount(b.reputation, False), None if a is None else _amount(a.reputation, False)
            ),
            _pair(_amount(b.tokens, False), None if a is None else _amount(a.tokens, False)),
            _pair(_percent(b.influence), None if a is None else _percent(a.influence)),
        )
    print_(table)


def _pair(before: str, after: str | None) -> str:
    return f"{before} → {'-' if after is None else after}"


def _percent(share: int) -> str:
    return f"{Decimal(share) * 100 / _UNIT:.2f} %"


def register(app: typer.Typer) -> None:
    """Add `simulate` and `whatif` to `app`."""
    # Short lines for `multitude --help`, which cuts a long first sentence at "...".
    app.command("simulate", short_help="Attack scenarios against honest counterfactuals.")(simulate)
    app.command("whatif", short_help="Replay an exported log under other rules.")(whatif)

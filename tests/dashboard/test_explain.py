"""`multitude explain`: every member's figures add up exactly from the postings, at every index."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import get_args

import httpx
import pytest
import typer
from typer.testing import CliRunner

from api.cli import common
from api.cli import explain as cli_explain
from api.cli.explain import Change, Explanation, Step
from tests.dashboard.community import Community
from tests.dashboard.server import DashboardServer
from valuation.model import Cause

# The community here runs backfeed/1, which posts every cause but backfeed/2's own.
BACKFEED_1_CAUSES = set(get_args(Cause)) - {"referral_stake"}


def test_the_api_history_adds_up_exactly_at_every_index(live_server: DashboardServer) -> None:
    """Read with Decimal straight from the JSON, independently of the command's own parsing."""
    seen: set[str] = set()
    with httpx.Client(base_url=live_server.url) as http:
        for signer in live_server.community.members.values():
            page = http.get(f"/v1/members/{signer.public}/history", params={"limit": 1000}).json()
            assert page["next"] is None
            figures = {"reputation": Decimal(0), "tokens": Decimal(0)}
            for item in page["items"]:
                assert item["postings"], f"index {item['index']} changed nothing"
                for posting in item["postings"]:
                    figures[posting["asset"]] += Decimal(posting["amount"])
                    seen.add(posting["cause"])
                assert figures["reputation"] == Decimal(item["reputation"]), item
                assert figures["tokens"] == Decimal(item["tokens"]), item
            now = http.get(f"/v1/members/{signer.public}").json()
            assert Decimal(now["reputation"]) == figures["reputation"]
            assert Decimal(now["tokens"]) == figures["tokens"]
    assert seen == BACKFEED_1_CAUSES


def test_explain_from_the_database_and_from_the_api_agree_and_add_up(
    live_server: DashboardServer, database_url: str
) -> None:
    for signer in live_server.community.members.values():
        local = cli_explain.from_database(database_url, signer.public)
        remote = cli_explain.from_api(f"{live_server.url}/v1", signer.public)  # /v1 is accepted
        assert local.steps == remote.steps
        assert local.names == remote.names and local.titles == remote.titles
        assert cli_explain.mismatches(local) == []
        last = list(cli_explain.rows(local))[-1]
        member = live_server.community.ledger.replayed_state().member(signer.public)
        assert member is not None
        assert (last.reputation, last.tokens) == (member.reputation, member.tokens)


def test_explain_names_whose_evaluation_of_which_contribution(community: Community) -> None:
    ann, bonnie = community.members["Ann"], community.members["Bonnie"]
    explanation = _explanation(community, bonnie.public)
    reasons = [cli_explain.reason(explanation, r.change) for r in cli_explain.rows(explanation)]
    # Bonnie referred Cleo: Ann's upvote of Cleo's guide paid Cleo, and Bonnie a share.
    assert "a referee's reward, from Ann's evaluation of “Translate the onboarding guide”" in (
        reasons
    )
    assert "submitting “Fix the typos in chapter 2”" in reasons
    # Ann's first evaluation of the typo fix drew on its evaluator fund.
    explanation = _explanation(community, ann.public)
    reasons = [cli_explain.reason(explanation, r.change) for r in cli_explain.rows(explanation)]
    assert "evaluated “Fix the typos in chapter 2”: a share of its evaluator fund" in reasons
    assert "agreed with Bonnie's evaluation of “Translate the onboarding guide”" in reasons


def _explanation(community: Community, key: str) -> Explanation:
    url = str(community.ledger.engine.url.render_as_string(hide_password=False))
    return cli_explain.from_database(url, key)


def test_a_figure_that_does_not_add_up_is_named() -> None:
    explanation = Explanation(
        member="a" * 64,
        name="Ann",
        steps=[
            Step(0, 5_000_000_000, 0, (Change("reputation", 5_000_000_000, "join", None, None),)),
            Step(3, 4_000_000_000, 0, (Change("reputation", -999_999_999, "fee", "c" * 64, None),)),
        ],
    )
    assert cli_explain.mismatches(explanation) == [
        "at index 3 the reputation postings add up to 4.000000001 but the ledger holds 4"
    ]


def _runner_app() -> typer.Typer:
    app = typer.Typer()
    cli_explain.register(app)

    @app.command()
    def other() -> None:  # a second command, so that typer keeps `explain` as a subcommand
        pass

    return app


def test_the_command_prints_the_table_and_says_it_adds_up(
    community: Community, database_url: str
) -> None:
    cleo = community.members["Cleo"]
    result = CliRunner().invoke(
        _runner_app(),
        ["explain", cleo.public[:10], "--db", database_url],
        env={"COLUMNS": "240"},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for words in ("Cleo", "given on joining", "contributor reward", "stake fee", "add up exactly"):
        assert words in out, words
    assert re.search(r"the postings add up exactly to reputation [0-9.]+ and tokens", out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["zz"], "is not a key"),
        (["ffff"], "no member has a key starting with ffff"),
    ],
)
def test_bad_keys_are_one_sentence(
    community: Community, database_url: str, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(_runner_app(), ["explain", *args, "--db", database_url])
    assert result.exit_code != 0
    assert isinstance(result.exception, common.CommandError)
    assert message in str(result.exception)

"""What-if replays of an exported bundle: the same rules change nothing, other rules move
members and may refuse entries (counted, not fatal), and the bundle must be the checkpoint's."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import valuation
from ledger import checkpoint as cp
from ledger.export import export_bundle
from ledger.service import Ledger
from ledger.whatif import WhatIfError, replay_under, valuation_for
from tests.helpers import build_history


@pytest.fixture
def bundle(ledger: Ledger, tmp_path: Path) -> Path:
    build_history(ledger)
    directory = tmp_path / "bundle"
    export_bundle(ledger, directory)
    return directory


def example(**article: str) -> dict[str, Any]:
    params = copy.deepcopy(valuation.PRESETS["example"])
    params["params"]["contribution_types"]["article"].update(article)
    return params


def test_the_same_rules_give_the_same_figures_and_move_no_one(bundle: Path) -> None:
    result = replay_under(bundle, valuation.PRESETS["example"])
    records = (json.loads(line) for line in (bundle / "state.jsonl").read_text().splitlines())
    published = {r["key"]: r["value"] for r in records}
    assert result.tree_size == 12
    assert result.algorithm == result.other_algorithm == "backfeed/1"
    assert result.total_reputation[0] == result.total_reputation[1]
    assert result.refused == {}
    assert len(result.movers) == 3
    for mover in result.movers:
        assert mover.after == mover.before
        assert mover.rank_change == 0
        figures = published[f"member/{mover.member}"]
        assert valuation.format_amount(mover.before.reputation) == figures["reputation"]
        assert valuation.format_amount(mover.before.tokens) == figures["tokens"]


def test_the_checkpoint_it_started_from_is_kept(bundle: Path) -> None:
    result = replay_under(bundle, valuation.PRESETS["example"])
    note = (bundle / "checkpoint").read_text()
    opened = cp.open_checkpoint(note, cp.parse_verifier_key((bundle / "log.vkey").read_text()))
    assert result.checkpoint == note
    assert (result.origin, result.tree_size, result.root) == (
        opened.origin,
        opened.size,
        opened.root_hash.hex(),
    )
    assert result.to_json()["checkpoint"]["root"] == opened.root_hash.hex()


def test_entries_the_other_rules_refuse_are_counted_not_fatal(bundle: Path) -> None:
    # A fee of 60 tokens: Ann (50 tokens) cannot submit her guide, so the four casts on it
    # name a contribution that does not exist under those rules.
    result = replay_under(bundle, example(fee="60"))
    assert result.refused == {"contribution.submit": 1, "evaluation.cast": 4}
    assert result.refusals[0].line == 5
    assert "fee of 60 tokens" in result.refusals[0].reason
    assert all(mover.after is not None for mover in result.movers)


def test_other_rules_move_members_biggest_movers_first(bundle: Path) -> None:
    # Rewards ten times as large for articles: Ann, the guide's author, gains on everyone.
    result = replay_under(bundle, example(reputation_reward_factor="50"))
    movers = result.movers
    keys = [(-abs(m.rank_change), -abs(m.influence_change)) for m in movers]
    assert keys == sorted(keys)
    assert any(m.influence_change != 0 for m in movers)
    ann = min(movers, key=lambda m: m.before.rank if m.name != "Ann" else 0)
    assert ann.name == "Ann"
    assert ann.after is not None and ann.after.reputation > ann.before.reputation
    ranks = sorted(m.after.rank for m in movers if m.after is not None)
    assert ranks[0] == 1


def test_a_changed_leaf_is_refused(bundle: Path, tmp_path: Path) -> None:
    changed = tmp_path / "changed"
    shutil.copytree(bundle, changed)
    leaves = changed / "leaves.jsonl"
    lines = leaves.read_bytes().split(b"\n")
    assert b'"value":1' in lines[11]  # the last leaf: a cast that no later entry names
    lines[11] = lines[11].replace(b'"value":1', b'"value":0')
    leaves.write_bytes(b"\n".join(lines))
    with pytest.raises(WhatIfError, match="do not have the root the checkpoint signs"):
        replay_under(changed, valuation.PRESETS["example"])


def test_a_directory_without_a_bundle_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WhatIfError, match=r"has no leaves\.jsonl"):
        replay_under(tmp_path, valuation.PRESETS["example"])


def test_valuation_for_checks_the_params() -> None:
    assert valuation_for("backfeed/1", valuation.PRESETS["dmag"]) == valuation.PRESETS["dmag"]
    whole = valuation_for("backfeed/1", valuation.PRESETS["dmag"]["params"])
    assert whole == valuation.PRESETS["dmag"]
    with pytest.raises(WhatIfError, match="no default params"):
        valuation_for("backfeed/1")
    with pytest.raises(WhatIfError, match="name the algorithm"):
        valuation_for("backfeed/2", valuation.PRESETS["dmag"])
    with pytest.raises(WhatIfError, match="the params are refused"):
        valuation_for("backfeed/1", {"beta": "2"})


def test_valuation_for_names_the_algorithms_and_takes_backfeed1s_presets() -> None:
    with pytest.raises(WhatIfError, match=r"^unknown algorithm 'foo': give one of backfeed/1, "):
        valuation_for("foo")
    with pytest.raises(WhatIfError, match=r'give --params FILE.*\{"preset": NAME\}.*dmag'):
        valuation_for("backfeed/1")
    assert valuation_for("backfeed/1", {"preset": "dmag"}) == valuation.PRESETS["dmag"]
    with pytest.raises(WhatIfError, match="unknown preset 'nope'"):
        valuation_for("backfeed/1", {"preset": "nope"})
    with pytest.raises(WhatIfError, match="name the algorithm 'backfeed/1', not 'backfeed/2'"):
        valuation_for("backfeed/2", {"preset": "dmag"})


def test_one_process_and_two_give_the_same_result(bundle: Path) -> None:
    other = example(fee="60", reputation_reward_factor="50")
    alone = replay_under(bundle, other, jobs=1).to_json()
    side_by_side = replay_under(bundle, other, jobs=2).to_json()
    alone.pop("seconds")
    side_by_side.pop("seconds")
    assert alone == side_by_side

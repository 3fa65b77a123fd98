"""`multitude simulate` and `multitude whatif` on the command line: the table, --json, and
errors as one sentence. The what-if runs on an exported demo log."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import valuation
from api.demo import run as run_demo
from ledger.db import make_engine, upgrade
from ledger.export import export_bundle
from ledger.keys import generate
from ledger.service import Ledger
from tests.helpers import run_cli


@pytest.fixture(scope="module")
def demo_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    place = tmp_path_factory.mktemp("demo")
    engine = make_engine(f"sqlite:///{place / 'demo.db'}")
    upgrade(engine)
    ledger = Ledger(engine, generate())
    run_demo(ledger, seed=2, members=10, entries=150, console=Console(file=io.StringIO()))
    export_bundle(ledger, place / "bundle")
    engine.dispose()
    return place / "bundle"


def test_simulate_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "simulate",
        "--algorithm",
        "backfeed/1",
        "--scenario",
        "self-evaluation",
        "--no-accuracy",
    )
    assert result.code == 0, result.err
    assert "self-evaluation" in result.out
    assert "backfeed/1" in result.out
    assert "+0.28 pp" in result.out  # Ann's gain in share of R (0.2849 points)
    assert "+11.02" in result.out  # and in tokens (87.98 -> 99.00)


def test_simulate_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys, "simulate", "--algorithm", "backfeed/1", "--scenario", "sybil ring", "--json"
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    (row,) = document["scenarios"]
    assert row["scenario"] == "sybil ring"
    assert row["attacker"][0] == "Ann" and len(row["attacker"]) == 11
    assert valuation.parse_amount(row["attacker_tokens_gain"]) > 0
    assert [a["algorithm"] for a in document["accuracy"]] == ["backfeed/1"]


def test_simulate_names_an_unknown_scenario_in_one_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "simulate", "--algorithm", "backfeed/1", "--scenario", "bribery")
    assert result.code == 1
    assert "no scenario is named 'bribery'" in result.err
    assert "Traceback" not in result.err


def test_whatif_on_a_demo_log(capsys: pytest.CaptureFixture[str], demo_bundle: Path) -> None:
    params = json.dumps(valuation.PRESETS["dmag"]["params"])
    file = demo_bundle.parent / "dmag.json"
    file.write_text(params)
    result = run_cli(
        capsys, "whatif", str(demo_bundle), "--algorithm", "backfeed/1", "--params", str(file)
    )
    assert result.code == 0, result.err
    checkpoint = (demo_bundle / "checkpoint").read_text().splitlines()
    assert f"tree size {checkpoint[1]}, root" in result.out
    assert "biggest movers first" in result.out
    assert "Ada" in result.out or "Bashir" in result.out  # the demo's founders


@pytest.mark.parametrize("algorithm", ["backfeed/1", "backfeed/2"])
def test_whatif_without_params_keeps_the_logs_contribution_types(
    capsys: pytest.CaptureFixture[str], demo_bundle: Path, algorithm: str
) -> None:
    """The demo's log has articles and comments; the defaults of either algorithm, given for
    each of its types, refuse none of its entries (backfeed/2's own defaults know articles
    only, and backfeed/1 has none)."""
    result = run_cli(capsys, "whatif", str(demo_bundle), "--algorithm", algorithm, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["refused"] == {}
    other = document["other"]["valuation"]
    assert other["algorithm"] == algorithm
    assert set(other["params"]["contribution_types"]) == {"article", "comment"}


def test_whatif_json(capsys: pytest.CaptureFixture[str], demo_bundle: Path) -> None:
    file = demo_bundle.parent / "same.json"
    file.write_text(json.dumps(valuation.PRESETS["example"]))
    result = run_cli(
        capsys,
        "whatif",
        str(demo_bundle),
        "--algorithm",
        "backfeed/1",
        "--params",
        str(file),
        "--json",
    )
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["checkpoint"]["tree_size"] >= 150
    assert len(document["members"]) == 10
    # The demo runs the example preset with lower thresholds: the example's own moves members.
    assert document["total_reputation"]["before"] != document["total_reputation"]["after"]


def test_whatif_errors_are_one_sentence(
    capsys: pytest.CaptureFixture[str], demo_bundle: Path, tmp_path: Path
) -> None:
    result = run_cli(capsys, "whatif", str(tmp_path), "--algorithm", "backfeed/1")
    assert result.code == 1
    assert "has no leaves.jsonl" in result.err
    result = run_cli(capsys, "whatif", str(demo_bundle), "--algorithm", "backfeed/3")
    assert result.code == 1
    assert (
        result.err.strip()
        == "error: unknown algorithm 'backfeed/3': give one of backfeed/1, backfeed/2"
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = run_cli(
        capsys, "whatif", str(demo_bundle), "--algorithm", "backfeed/1", "--params", str(bad)
    )
    assert result.code == 1
    assert "is not a JSON document" in result.err
    empty = tmp_path / "empty"
    empty.mkdir()
    params = tmp_path / "example.json"
    params.write_text(json.dumps(valuation.PRESETS["example"]))
    result = run_cli(
        capsys, "whatif", str(empty), "--algorithm", "backfeed/1", "--params", str(params)
    )
    assert result.code == 1
    assert "has no leaves.jsonl" in result.err
    assert "Traceback" not in result.err


def test_simulate_markdown_is_the_docs_table(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "simulate",
        "--algorithm",
        "backfeed/1",
        "--scenario",
        "self-evaluation",
        "--no-accuracy",
        "--markdown",
    )
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("| scenario | algorithm | attacker |")
    assert lines[2].startswith("| self-evaluation | backfeed/1 | Ann | +0.28 pp | +11.02 |")

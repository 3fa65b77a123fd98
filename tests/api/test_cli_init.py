"""`multitude init` and `keygen` as a new user types them (SPEC section 8)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

import valuation
from ledger.db import make_engine
from ledger.keys import read_key
from ledger.service import Ledger
from tests.helpers import Signer, run_cli


def test_init_creates_a_network_with_a_preset_and_founders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, bob = Signer(), Signer()
    config = tmp_path / "network.json"
    config.write_text(
        json.dumps(
            {
                "network": "coop",
                "origin": "coop.example/log",
                "valuation": {"preset": "dmag"},
                "founders": [
                    {"member": ann.public, "name": "Ann", "reputation": 10, "tokens": "99.5"},
                    {
                        "member": bob.public,
                        "name": "Bob",
                        "reputation": "1",
                        "tokens": 0,
                        "referrer": ann.public,
                    },
                ],
            }
        )
    )
    url = f"sqlite:///{tmp_path / 'coop.db'}"
    result = run_cli(capsys, *["init", "--db", url, "--config", str(config)])
    assert result.code == 0, result.err
    key_file = tmp_path / "multitude-log.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ledger = Ledger(make_engine(url), read_key(key_file))
    network = ledger.network()
    assert (network.name, network.origin) == ("coop", "coop.example/log")
    state = ledger.replayed_state()
    ann_view, bob_view = state.member(ann.public), state.member(bob.public)
    assert ann_view is not None and bob_view is not None
    assert (ann_view.reputation, ann_view.tokens) == (10 * 10**9, 99_500_000_000)
    assert bob_view.referrer == ann.public
    assert state.params.beta == state.params.beta  # the dmag params are in force
    again = run_cli(capsys, *["init", "--db", url, "--config", str(config)])
    assert again.code == 1 and "already holds a network" in again.err


def test_init_refuses_a_bad_config_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    cases = {
        "missing.json": None,
        "broken.json": "{",
        "preset.json": json.dumps({"valuation": {"preset": "nope"}}),
        "params.json": json.dumps({"valuation": {"algorithm": "nope", "params": {}}}),
        "referrer.json": json.dumps(
            {
                "founders": [
                    {
                        "member": "a" * 64,
                        "name": "A",
                        "reputation": "1",
                        "tokens": "1",
                        "referrer": "b" * 64,
                    }
                ]
            }
        ),
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        result = run_cli(capsys, *["init", "--db", url, "--config", str(path)])
        assert result.code == 1, (name, result.err)
        assert "Traceback" not in result.err and result.err.startswith("error:"), result.err
        assert not (tmp_path / "multitude-log.key").exists(), "a failed init leaves no key behind"
        assert not list(tmp_path.glob("x.db*")), "nor an empty database"
    # A database that was there before a failed init stays.
    (tmp_path / "good.json").write_text(json.dumps({"network": "n", "origin": "o"}))
    assert (
        run_cli(capsys, *["init", "--db", url, "--config", str(tmp_path / "good.json")]).code == 0
    )
    again = run_cli(capsys, *["init", "--db", url, "--config", str(tmp_path / "good.json")])
    assert again.code == 1 and "already holds a network" in again.err
    assert (tmp_path / "x.db").exists()


def test_keygen_writes_an_owner_only_key_and_refuses_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ann.key"
    result = run_cli(capsys, *["keygen", "--out", str(out)])
    assert result.code == 0
    assert result.out.strip() == bytes(read_key(out).verify_key).hex()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = run_cli(capsys, *["keygen", "--out", str(out)])
    assert again.code == 1 and "refusing to overwrite" in again.err


@pytest.mark.parametrize("spec", [None, {"algorithm": "backfeed/2"}])
def test_init_without_params_creates_a_backfeed2_network_with_its_defaults_written_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, str] | None
) -> None:
    ann = Signer()
    config = tmp_path / "network.json"
    data: dict[str, object] = {
        "network": "coop",
        "founders": [{"member": ann.public, "name": "Ann", "reputation": 10, "tokens": 5}],
    }
    if spec is not None:
        data["valuation"] = spec
    config.write_text(json.dumps(data))
    url = f"sqlite:///{tmp_path / 'coop.db'}"
    result = run_cli(capsys, *["init", "--db", url, "--config", str(config)])
    assert result.code == 0, result.err
    ledger = Ledger(make_engine(url), read_key(tmp_path / "multitude-log.key"))
    state = ledger.replayed_state()
    assert state.params.to_json() == valuation.DEFAULT_VALUATION
    genesis = json.loads(next(ledger.leaf_bytes(0, 1)))["entry"]["body"]
    assert genesis["valuation"] == valuation.DEFAULT_VALUATION

"""`multitude init` and `keygen` as a new user types them (SPEC section 8)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
from pathlib import Path

import pytest

import valuation
from ledger.db import make_engine
from ledger.keys import generate, read_key, write_key
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


def test_the_default_network_is_named_from_the_log_key() -> None:
    """SPEC section 2: `multitude-` and 8 hex of SHA-256 of the 32 bytes of the public key."""
    from nacl.signing import SigningKey

    from ledger.keys import default_network, default_origin

    log = SigningKey(bytes(range(32)))
    assert bytes(log.verify_key).hex().startswith("03a107bf")
    assert default_network(log.verify_key) == "multitude-56475aa7"
    assert default_origin("multitude-56475aa7") == "localhost/multitude-56475aa7"


@pytest.mark.parametrize(
    ("config", "name", "origin"),
    [
        ({}, None, None),  # both from the log key
        ({"network": "coop"}, "coop", "localhost/coop"),
        ({"network": "coop", "origin": "coop.example"}, "coop", "coop.example"),
    ],
)
def test_init_fills_the_network_and_origin_from_the_log_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: dict[str, str],
    name: str | None,
    origin: str | None,
) -> None:
    from ledger.keys import default_network

    path = tmp_path / "network.json"
    path.write_text(json.dumps(config))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = run_cli(capsys, "init", "--db", url, "--config", str(path))
    assert result.code == 0, result.err
    log = read_key(tmp_path / "multitude-log.key")
    network = Ledger(make_engine(url), log).network()
    name = name or default_network(log.verify_key)
    assert (network.name, network.origin) == (name, origin or f"localhost/{name}")
    assert f"log verifier key: {network.verifier_key}" in result.out


def test_two_default_logs_have_different_networks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = set()
    for n in (1, 2):
        (tmp_path / str(n)).mkdir()
        (tmp_path / "empty.json").write_text("{}")
        url = f"sqlite:///{tmp_path / str(n) / 'n.db'}"
        assert (
            run_cli(capsys, "init", "--db", url, "--config", str(tmp_path / "empty.json")).code == 0
        )
        names.add(Ledger(make_engine(url), None).network().name)
    assert len(names) == 2 and all(n.startswith("multitude-") for n in names)


def test_init_help_says_a_chosen_name_must_be_unique(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "init", "--help")
    assert "unique" in " ".join(result.out.split())


def test_serve_creates_the_default_network_and_prints_the_verifier_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))
    for name in ("MULTITUDE_DB", "MULTITUDE_LOG_KEY"):  # serve sets them for its workers
        monkeypatch.setenv(name, "")
    url = f"sqlite:///{tmp_path / 'n.db'}"
    result = run_cli(capsys, "serve", "--db", url, "--port", str(free_port()))
    assert result.code == 0, result.err
    assert len(served) == 1
    network = Ledger(make_engine(url), None).network()
    log = read_key(tmp_path / "multitude-log.key")
    assert network.name == f"multitude-{hashlib.sha256(bytes(log.verify_key)).hexdigest()[:8]}"
    assert network.origin == f"localhost/{network.name}"
    assert f"log verifier key: {network.verifier_key}" in result.err


@pytest.mark.parametrize("flag", [False, True])
def test_serve_honours_multitude_log_key_unless_log_key_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, flag: bool
) -> None:
    """A log key named in the environment is the one serve signs with and hands its workers,
    not the default beside the database; `--log-key` still comes first."""
    import uvicorn

    served: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: served.append(kwargs))
    monkeypatch.setenv("MULTITUDE_DB", "")
    (tmp_path / "keys").mkdir()
    from_env, given = tmp_path / "keys" / "env.key", tmp_path / "keys" / "given.key"
    for path in (from_env, given):
        write_key(path, generate())
    monkeypatch.setenv("MULTITUDE_LOG_KEY", str(from_env))
    url = f"sqlite:///{tmp_path / 'n.db'}"
    args = ["serve", "--db", url, "--port", str(free_port())]
    result = run_cli(capsys, *args, *(["--log-key", str(given)] if flag else []))
    assert result.code == 0, result.err
    assert len(served) == 1
    chosen = given if flag else from_env
    assert os.environ["MULTITUDE_LOG_KEY"] == str(chosen.resolve())  # what the workers read
    assert not (tmp_path / "multitude-log.key").exists()
    network = Ledger(make_engine(url), None).network()
    assert network.log_public_key == bytes(read_key(chosen).verify_key).hex()


def test_serve_on_a_busy_port_says_so_before_claiming_to_serve(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            capsys, "serve", "--db", f"sqlite:///{tmp_path / 'n.db'}", "--port", str(port)
        )
    assert result.code == 1
    assert "serving" not in result.err and "another --port" in result.err
    assert result.err.startswith("error:") and len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "n.db").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("command", [["check"], ["explain", "abcd"], ["export", "bundle"]])
def test_a_missing_local_database_names_where_the_command_looked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MULTITUDE_DB", raising=False)
    result = run_cli(capsys, *command)
    assert result.code == 1
    assert result.err.startswith(
        f"error: there is no database at {tmp_path / 'multitude.db'} (from sqlite:///multitude.db)"
    ), result.err
    assert not (tmp_path / "multitude.db").exists()
    shown = " ".join(run_cli(capsys, command[0], "--help").out.split())
    assert (
        "[default: ($MULTITUDE_DB, else sqlite:///multitude.db in the working directory)]" in shown
    )


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

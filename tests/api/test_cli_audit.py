"""`multitude export` and `multitude verify` on a live ledger's database, untouched and tampered."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from typer.testing import CliRunner, Result

from api.cli import app
from ledger import checkpoint as cp
from ledger import entries, keys
from ledger.service import Ledger
from tests.helpers import Signer, build_history, run_cli

runner = CliRunner()


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def db(ledger: Ledger, database_url: str, log_key: SigningKey, tmp_path: Path) -> dict[str, Any]:
    build_history(ledger)
    key_file = tmp_path / "log.key"
    keys.write_key(key_file, log_key)
    return {"url": database_url, "key": key_file}


@pytest.fixture
def bundle(db: dict[str, Any], tmp_path: Path) -> Path:
    directory = tmp_path / "bundle"
    result = run("export", "--db", db["url"], str(directory))
    assert result.exit_code == 0, result.output
    assert "exported tree size 12" in result.output
    return directory


def copy_of(bundle: Path) -> Path:
    copy = bundle.parent / "tampered"
    shutil.copytree(bundle, copy)
    return copy


def edit_lines(bundle: Path, edit: Any) -> None:
    path = bundle / "leaves.jsonl"
    lines = path.read_bytes().split(b"\n")[:-1]
    edit(lines)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def fails(bundle: Path, where: str, *more: str) -> str:
    result = run("verify", str(bundle), *more)
    assert result.exit_code == 1, result.output
    assert where in result.output, result.output
    return result.output


def test_an_exported_bundle_verifies(ledger: Ledger, bundle: Path) -> None:
    result = run("verify", str(bundle))
    assert result.exit_code == 0, result.output
    root = ledger.state_root_at(None)[1].hex()
    assert "OK: 12 entries, 3 members, 2 contributions" in result.output
    assert f"state {root}" in result.output
    assert "\x1b[" not in result.output, "no progress bar when stdout is not a terminal"


def test_verify_json_is_one_document(ledger: Ledger, bundle: Path) -> None:
    result = run("verify", str(bundle), "--json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    assert report["ok"] is True and report["failure"] is None
    assert report["entries"] == 12
    assert report["state_root"] == ledger.state_root_at(None)[1].hex()


def test_verify_json_names_the_failure(bundle: Path) -> None:
    copy = copy_of(bundle)
    edit_lines(copy, lambda lines: lines.__setitem__(4, lines[4].replace(b"guide", b"guidE")))
    result = run("verify", str(copy), "--json")
    assert result.exit_code == 1
    failure = json.loads(result.output)["failure"]
    assert failure["file"] == "leaves.jsonl" and failure["line"] == 5
    assert failure["check"] == "signature"
    assert failure["message"].startswith("bad signature by ")


def test_a_changed_title(bundle: Path) -> None:
    copy = copy_of(bundle)
    edit_lines(copy, lambda lines: lines.__setitem__(4, lines[4].replace(b"guide", b"guidE")))
    fails(copy, "leaves.jsonl line 5: bad signature by ")


def test_a_dropped_line(bundle: Path) -> None:
    copy = copy_of(bundle)
    edit_lines(copy, lambda lines: lines.__delitem__(6))
    fails(copy, "leaves.jsonl line 11: seq 4 skips ahead")


def test_two_swapped_lines(bundle: Path) -> None:
    copy = copy_of(bundle)

    def swap(lines: list[bytes]) -> None:
        lines[6], lines[7] = lines[7], lines[6]

    edit_lines(copy, swap)
    fails(copy, "leaves.jsonl line 8: logged_at")


def test_an_inserted_line(bundle: Path) -> None:
    copy = copy_of(bundle)
    edit_lines(copy, lambda lines: lines.insert(9, lines[5]))
    fails(copy, "leaves.jsonl line 10: seq 2 repeats an earlier seq")


def test_an_edited_record_in_state_jsonl_is_named_by_its_line(bundle: Path) -> None:
    copy = copy_of(bundle)
    lines = (copy / "state.jsonl").read_bytes().splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines) if json.loads(line)["key"] == "network")
    record = json.loads(lines[number])
    record["value"]["total_reputation"] = "1"
    lines[number] = json.dumps(record, separators=(",", ":"), sort_keys=True).encode() + b"\n"
    (copy / "state.jsonl").write_bytes(b"".join(lines))
    fails(copy, f"state.jsonl line {number + 1}: network.total_reputation is 1, replay gives ")


def test_a_checkpoint_signed_by_another_key(bundle: Path) -> None:
    copy = copy_of(bundle)
    verifier = cp.parse_verifier_key((copy / "log.vkey").read_text())
    honest = cp.open_checkpoint((copy / "checkpoint").read_text(), verifier)
    (copy / "checkpoint").write_text(cp.sign_checkpoint(honest, SigningKey.generate()))
    fails(copy, "checkpoint: is not signed by the log key in log.vkey")


def test_since_a_checkpoint_of_an_unrelated_log(bundle: Path, tmp_path: Path) -> None:
    other = cp.sign_checkpoint(
        cp.Checkpoint("example.org/demo", 2, b"\x00" * 32), SigningKey.generate()
    )
    (tmp_path / "other").write_text(other)
    fails(bundle, "is not signed by the log key", "--since", str(tmp_path / "other"))


def test_since_an_older_checkpoint_of_the_same_log(
    db: dict[str, Any], bundle: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    # Size 11 shares its append with 12: the log signed no checkpoint there, the key signs one.
    result = run(
        "export", "--db", db["url"], "--log-key", str(db["key"]), "--tree-size", "11", str(old)
    )
    assert result.exit_code == 0, result.output
    assert "signed now" in result.output
    result = run("verify", str(bundle), "--since", str(old / "checkpoint"))
    assert result.exit_code == 0, result.output
    assert "extends the checkpoint of tree size 11" in result.output


def test_a_truncated_last_line(bundle: Path) -> None:
    copy = copy_of(bundle)
    data = (copy / "leaves.jsonl").read_bytes()
    (copy / "leaves.jsonl").write_bytes(data[: len(data) - 30])
    fails(copy, "leaves.jsonl line 12: the last line has no newline: the file is truncated")


def test_a_missing_file(bundle: Path) -> None:
    copy = copy_of(bundle)
    (copy / "checkpoint").unlink()
    fails(copy, "checkpoint: the bundle has no checkpoint")
    fails(copy.parent / "nowhere", "the bundle directory does not exist")


def test_a_bundle_of_another_network(bundle: Path) -> None:
    copy = copy_of(bundle)
    other = cp.verifier_key("example.org/other", bytes(SigningKey.generate().verify_key))
    (copy / "log.vkey").write_text(other)
    fails(copy, "leaves.jsonl line 1: the genesis names the log key")


def test_an_entry_of_another_network(bundle: Path) -> None:
    copy = copy_of(bundle)

    def append(lines: list[bytes]) -> None:
        logged_at = json.loads(lines[-1])["logged_at"]
        lines.append(entries.leaf_bytes(Signer(network="elsewhere").join("Eve"), logged_at))

    edit_lines(copy, append)
    fails(copy, "leaves.jsonl line 13: the entry is for network 'elsewhere'")


def test_export_refuses_a_non_empty_directory(db: dict[str, Any], bundle: Path) -> None:
    result = run("export", "--db", db["url"], str(bundle))
    assert result.exit_code != 0
    result = run("export", "--db", db["url"], "--force", "--tree-size", "5", str(bundle))
    assert result.exit_code == 0, result.output
    assert run("verify", str(bundle)).exit_code == 0


def test_the_command_line_prints_errors_as_one_sentence(
    db: dict[str, Any], bundle: Path, tmp_path: Path
) -> None:
    """Through `multitude`'s own entry point: refusals are one line on stderr, exit 1."""
    script = "from api import cli\ncli.main()\n"
    for args, words in (
        (["export", "--db", db["url"], str(bundle)], "is not empty"),
        (["export", "--db", db["url"], "--tree-size", "99", str(tmp_path / "x")], "beyond"),
        (["verify", str(tmp_path / "nowhere")], "does not exist"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", script, *args],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parents[2],
            timeout=120,
        )
        assert done.returncode == 1, done
        assert words in done.stdout + done.stderr
        assert "Traceback" not in done.stdout + done.stderr


def test_export_of_a_database_that_is_not_there_says_so_and_creates_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    result = run_cli(capsys, "export", "--db", f"sqlite:///{missing}", str(tmp_path / "out"))
    assert result.code == 1 and "Traceback" not in result.err
    assert result.err.startswith(f"error: there is no database at {missing}")
    assert not missing.exists() and not (tmp_path / "out").exists()

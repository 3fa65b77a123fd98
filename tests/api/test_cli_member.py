"""The member's command line, as a person types it: every failure is one sentence, exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey
from sqlalchemy import Engine

import valuation
from api import cli
from ledger import keys
from ledger.service import Appended, Ledger
from tests.helpers import LiveServer, Run, Signer, free_port, new_ledger, run_cli

# The `multitude` command as a fresh process runs it.
ENTRY = "import sys; from api import cli; sys.argv[0] = 'multitude'; cli.main()"
ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return run_cli(capsys, *args)


def run_process(*args: str, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=60,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_sentence(result: Run, *words: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.out + result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def api(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with LiveServer(ledger) as url:
        monkeypatch.setenv("MULTITUDE_API", url)
        yield url


def key_file(tmp_path: Path, name: str) -> tuple[Path, str]:
    path = tmp_path / f"{name}.key"
    key = SigningKey.generate()
    keys.write_key(path, key)
    return path, keys.public_hex(key)


def test_a_member_tour_join_contribute_evaluate_and_read(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, ann_pub = key_file(tmp_path, "ann")
    bob, _ = key_file(tmp_path, "bob")
    draft = tmp_path / "guide.md"
    draft.write_text("# Guide\n")

    result = run(capsys, "join", "--key", str(ann), "--name", "Ann")
    assert result.code == 0 and ann_pub in result.out
    assert run(capsys, "join", "--key", str(bob), "--name", "Bob", "--referrer", ann_pub).code == 0
    result = run(
        capsys,
        "contribute", "--key", str(ann), "Translate the onboarding guide",
        "--type", "article", "--content", str(draft), "--tag", "docs", "--json",
    )  # fmt: skip
    assert result.code == 0, result
    cid = json.loads(result.out)["id"]
    result = run(capsys, "evaluate", "--key", str(bob), cid[:8], "1")
    assert result.code == 0 and "Translate the onboarding guide" in result.out

    result = run(capsys, "members")
    assert result.code == 0 and "Ann" in result.out and "Bob" in result.out
    result = run(capsys, "leaderboard", "--by", "tokens", "--json")
    assert [m["name"] for m in json.loads(result.out)] == ["Bob", "Ann"]
    result = run(capsys, "contributions")
    assert result.code == 0 and cid[:12] in result.out
    result = run(capsys, "show", cid)
    assert result.code == 0 and "Bob" in result.out and "evaluations" in result.out
    result = run(capsys, "show", ann_pub, "--json")
    assert json.loads(result.out)["name"] == "Ann"

    verifier = ledger.network().verifier_key
    result = run(capsys, "checkpoint", "--verifier", verifier, "--json")
    assert json.loads(result.out)["tree_size"] == 5
    result = run(capsys, "prove", cid, "--verifier", verifier)
    assert result.code == 0 and "proven" in result.out
    result = run(capsys, "checkpoint", "--verifier-key")
    assert result.code == 0 and result.out.strip() == verifier
    assert "checkpoint --verifier-key" in " ".join(run(capsys, "prove", "--help").out.split())


def test_server_down_is_one_sentence_in_a_fresh_process(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    key, _ = key_file(tmp_path, "ann")
    result = run_process("join", "--key", str(key), "--name", "Ann", env={"MULTITUDE_API": url})
    assert_one_sentence(result, url, "multitude serve")
    assert_one_sentence(run_process("leaderboard", "--api", url), "cannot reach")
    assert_one_sentence(run_process("members", "--api", "http://[::1"), "API address")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ["does not exist"]),
        ("not a key\n", ["is not a key file (64 hex characters expected"]),
        ("# README — with “quotes”\n", ["is not a key file (64 hex characters expected"]),
        ("DIRECTORY", ["is a directory, not a key file (64 hex characters expected"]),
    ],
)
def test_a_bad_key_file_is_one_sentence(
    tmp_path: Path, content: str | None, words: list[str]
) -> None:
    path = tmp_path / "member.key"
    if content == "DIRECTORY":
        path.mkdir()
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    result = run_process("contribute", "--key", str(path), "A title", "--api", "http://x")
    assert_one_sentence(result, str(path), *words)


def test_a_refused_entry_names_the_servers_reason(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    result = run(capsys, "contribute", "--key", str(ann), "Before joining")
    assert_one_sentence(result, "refused", "is not a member", "run `multitude join` first")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    result = run(capsys, "join", "--key", str(ann), "--name", "Ann again")
    assert_one_sentence(result, "refused", "already a member")
    result = run(capsys, "contribute", "--key", str(ann), "Typed", "--type", "poem")
    assert_one_sentence(result, "refused", "poem")


def test_an_unknown_contribution_is_one_sentence(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    unknown = "ab" * 32
    assert_one_sentence(run(capsys, "evaluate", "--key", str(ann), unknown, "1"), unknown)
    assert_one_sentence(run(capsys, "show", unknown), "no contribution or member")
    assert_one_sentence(run(capsys, "show", "abcd"), "starting with abcd")
    assert_one_sentence(run(capsys, "show", "not-hex"), "is not an id")


def test_missing_content_file_and_missing_verifier_are_one_sentence(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    run(capsys, "join", "--key", str(ann), "--name", "Ann")
    missing = tmp_path / "nowhere.md"
    result = run(capsys, "contribute", "--key", str(ann), "T", "--content", str(missing))
    assert_one_sentence(result, str(missing), "does not exist")
    assert_one_sentence(run(capsys, "prove", "ab" * 32), "--verifier")
    assert_one_sentence(run(capsys, "checkpoint", "--verifier", "nonsense"), "verifier key")


def test_every_command_is_registered_once() -> None:
    names = [info.name for info in cli.app.registered_commands]
    assert len(names) == len(set(names))
    assert {
        "init",
        "serve",
        "keygen",
        "join",
        "prove",
        "verify",
        "check",
        "explain",
        "demo",
    } <= set(names)


@pytest.mark.parametrize("module", ["common", *cli.COMMAND_MODULES])
def test_each_command_module_imports_on_its_own(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import api.cli.{module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_negative_value_is_a_value_and_one_out_of_range_is_caught_before_signing(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    bob, _ = key_file(tmp_path, "bob")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    assert run(capsys, "join", "--key", str(bob), "--name", "Bob").code == 0
    result = run(capsys, "contribute", "--key", str(ann), "A guide", "--json")
    cid = json.loads(result.out)["id"]
    size = len(list(ledger.leaf_bytes(0, 100)))
    for value in ("-1", "7"):
        result = run(capsys, "evaluate", "--key", str(bob), cid, value)
        assert_one_sentence(result, f"{value} is not a value", "give one of 0, 1")
    assert len(list(ledger.leaf_bytes(0, 100))) == size, "nothing was submitted"
    assert run(capsys, "evaluate", "--key", str(bob), cid, "1").code == 0


def test_the_api_address_may_end_in_v1(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    for address in (f"{api}/v1", f"{api}/v1/"):
        result = run(capsys, "members", "--api", address)
        assert result.code == 0, result.err


def test_leaderboard_marks_you_and_adds_your_row_below_the_top(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    bob, _ = key_file(tmp_path, "bob")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    assert run(capsys, "join", "--key", str(bob), "--name", "Bob").code == 0
    assert run(capsys, "contribute", "--key", str(ann), "A guide").code == 0  # Ann pays a fee
    result = run(capsys, "leaderboard", "--by", "tokens", "--limit", "1", "--key", str(ann))
    assert result.code == 0, result.err
    lines = [line for line in result.out.splitlines() if "Ann" in line or "Bob" in line]
    assert len(lines) == 2 and "Bob" in lines[0] and "Ann (you)" in lines[1]
    assert "…" in lines[1], "below the top, your place by tokens is not a rank"
    result = run(capsys, "leaderboard", "--key", str(bob))
    assert "Bob (you)" in result.out and "Ann (you)" not in result.out


def test_scores_and_qualities_are_percentages_as_on_the_dashboard(
    api: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, _ = key_file(tmp_path, "ann")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    result = run(capsys, "contribute", "--key", str(ann), "A guide", "--json")
    cid = json.loads(result.out)["id"]
    score = json.loads(run(capsys, "show", cid, "--json").out)["score"]
    shown = f"{Decimal(score) * 100:.2f} %"
    assert shown in run(capsys, "contributions").out
    assert f"score {shown}" in run(capsys, "show", cid).out


def test_a_command_line_that_does_not_parse_is_one_line_naming_the_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for args, words in (
        (["evaluate", "--key", "k"], "Missing argument 'ID'"),
        (["leaderboard", "--by", "x"], "'--by'"),
        (["nosuch"], "No such command 'nosuch'"),
    ):
        result = run(capsys, *args)
        assert result.code == 2, result
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
        assert lines[0].endswith("--help`)")


def test_help_has_readable_placeholders(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ["", *(info.name or "" for info in cli.app.registered_commands)]:
        result = run(capsys, *([command] if command else []), "--help")
        assert result.code == 0, command
        for placeholder in ("<bool>", "<list[str]>", "<str>  ", "<path>  ", "<int range>"):
            options = [line for line in result.out.splitlines() if line.strip().startswith("--")]
            assert not any(placeholder in line for line in options), (command, placeholder)


def test_figures_prints_a_members_figures_proven_against_the_checkpoint(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, ann_pub = key_file(tmp_path, "ann")
    bob, bob_pub = key_file(tmp_path, "bob")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    assert run(capsys, "join", "--key", str(bob), "--name", "Bob", "--referrer", ann_pub).code == 0
    verifier = ledger.network().verifier_key

    result = run(capsys, "figures", bob_pub[:10], "--verifier", verifier)
    assert result.code == 0, result
    served = json.loads(run(capsys, "show", bob_pub, "--json").out)
    assert "Bob" in result.out and f"referred by {ann_pub}" in result.out
    assert f"reputation {served['reputation']} · tokens {served['tokens']}" in result.out
    assert "proven against checkpoint 3" in result.out

    result = run(capsys, "figures", "--key", str(ann), "--trust-server-key", "--json")
    proven = json.loads(result.out)
    assert proven["member"] == ann_pub and proven["tree_size"] == 3
    assert proven["referrer"] is None and proven["name"] == "Ann"


def test_figures_failures_are_one_sentence(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledger.checkpoint import verifier_key

    ann, ann_pub = key_file(tmp_path, "ann")
    _, stranger = key_file(tmp_path, "stranger")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    verifier = ledger.network().verifier_key
    other_log = verifier_key("example.org/demo", bytes(SigningKey.generate().verify_key))

    assert_one_sentence(run(capsys, "figures", ann_pub), "--verifier")
    assert_one_sentence(run(capsys, "figures", "--verifier", verifier), "--key")
    result = run(capsys, "figures", stranger, "--verifier", verifier)
    assert_one_sentence(result, stranger, "proven not to be a member at checkpoint 2")
    result = run(capsys, "figures", ann_pub, "--verifier", other_log)
    assert_one_sentence(result, "checkpoint does not verify")
    assert_one_sentence(run(capsys, "figures", "zz", "--verifier", verifier), "is not a key")


def test_figures_at_a_checkpoint_kept_earlier(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`checkpoint --note` keeps the signed checkpoint as the server serves it; `figures
    --checkpoint` proves a member's figures at that checkpoint's size later on."""
    ann, ann_pub = key_file(tmp_path, "ann")
    bob, _ = key_file(tmp_path, "bob")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    verifier = ledger.network().verifier_key
    kept = run(capsys, "checkpoint", "--note", "--verifier", verifier)
    assert kept.code == 0, kept
    assert kept.out == httpx.get(f"{api}/v1/log/checkpoint").text
    (tmp_path / "kept.checkpoint").write_text(kept.out)
    then = json.loads(run(capsys, "show", ann_pub, "--json").out)
    assert run(capsys, "join", "--key", str(bob), "--name", "Bob", "--referrer", ann_pub).code == 0
    assert run(capsys, "contribute", "--key", str(ann), "A guide", "--type", "article").code == 0

    at = ["figures", ann_pub, "--checkpoint", str(tmp_path / "kept.checkpoint")]
    result = run(capsys, *at, "--verifier", verifier)
    assert result.code == 0, result
    assert f"proven against checkpoint 2 (the one kept in {tmp_path / 'kept.checkpoint'})" in (
        result.out
    )
    assert f"reputation {then['reputation']} · tokens {then['tokens']}" in result.out
    proven = json.loads(run(capsys, *at, "--trust-server-key", "--json").out)
    latest = json.loads(run(capsys, "figures", ann_pub, "--verifier", verifier, "--json").out)
    assert (proven["tree_size"], latest["tree_size"]) == (2, 4)
    assert (proven["reputation"], proven["tokens"]) == (then["reputation"], then["tokens"])
    assert (latest["reputation"], latest["tokens"]) != (proven["reputation"], proven["tokens"])


def test_a_kept_checkpoint_that_is_not_one_or_does_not_verify_is_one_sentence(
    api: str, ledger: Ledger, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ledger.checkpoint import sign_note, verifier_key

    ann, ann_pub = key_file(tmp_path, "ann")
    assert run(capsys, "join", "--key", str(ann), "--name", "Ann").code == 0
    verifier = ledger.network().verifier_key
    note = run(capsys, "checkpoint", "--note").out
    body, _, _ = note.partition("\n\n")
    lines = body.split("\n")
    files = {
        "missing": None,
        "text": "not a checkpoint at all\n",
        "unsigned": body + "\n",
        "binary": b"\xff\xfe\x00",
        # the log's signature over another tree size
        "tampered": "\n".join([lines[0], "1", *lines[2:]]) + "\n\n" + note.partition("\n\n")[2],
        # well formed and signed, but by another key under the log's name
        "forged": sign_note(body + "\n", SigningKey.generate(), lines[0]),
    }
    for name, content in files.items():
        if isinstance(content, bytes):
            (tmp_path / name).write_bytes(content)
        elif content is not None:
            (tmp_path / name).write_text(content)

    def figures_at(path: Path, *more: str) -> Run:
        return run(capsys, "figures", ann_pub, "--checkpoint", str(path), *more)

    with_key = ("--verifier", verifier)
    assert_one_sentence(figures_at(tmp_path / "missing", *with_key), "no checkpoint file")
    assert_one_sentence(figures_at(tmp_path, *with_key), "is a directory")
    for name in ("text", "unsigned", "binary"):
        result = figures_at(tmp_path / name, *with_key)
        assert_one_sentence(result, "is not a signed checkpoint", "checkpoint --note")
    for name in ("tampered", "forged"):
        result = figures_at(tmp_path / name, *with_key)
        assert_one_sentence(result, f"{tmp_path / name} does not verify with the log's key")
        result = figures_at(tmp_path / name, "--trust-server-key")
        assert_one_sentence(result, "does not verify")
    other_log = verifier_key(lines[0], bytes(SigningKey.generate().verify_key))
    result = run(capsys, "checkpoint", "--note", "--verifier", other_log)
    assert_one_sentence(result, "signature")
    assert_one_sentence(run(capsys, "checkpoint", "--note", "--verifier-key"), "not both")


def test_a_prefix_finds_a_contribution_older_than_the_newest_thousand(
    engine: Engine,
    log_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = new_ledger(engine, log_key, valuation.DEFAULT_VALUATION)  # backfeed/2: no fee
    ann = Signer()
    ledger.append([ann.join("Ann")])
    oldest = ledger.append([ann.submit("The oldest note")])[0]
    assert isinstance(oldest, Appended)
    for start in (0, 500):  # newer than it: 1000 contributions, a whole first page
        added = ledger.append([ann.submit(f"Note {i}") for i in range(start, start + 500)])
        assert all(isinstance(a, Appended) for a in added)
    joined = ledger.append([Signer().join("Bob")])[0]
    assert isinstance(joined, Appended)
    with LiveServer(ledger) as url:
        monkeypatch.setenv("MULTITUDE_API", url)
        result = run(capsys, "show", oldest.id[:10])
        assert result.code == 0, result.err
        assert "The oldest note" in result.out
        # prove takes any entry's id, but a prefix finds contributions only: it says so.
        assert_one_sentence(
            run(capsys, "prove", joined.id[:10], "--trust-server-key"),
            f"no contribution has an id starting with {joined.id[:10]}",
            "give another entry's full 64-hex id",
        )
        result = run(capsys, "prove", joined.id, "--trust-server-key")
        assert result.code == 0, result.err


def test_explain_says_a_member_without_postings_has_none(
    engine: Engine, log_key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = new_ledger(engine, log_key, valuation.DEFAULT_VALUATION)  # a join posts nothing
    ann = Signer()
    assert isinstance(ledger.append([ann.join("Ann")])[0], Appended)
    with LiveServer(ledger) as url:
        result = run(capsys, "explain", ann.public[:8], "--api", url)
    assert result.code == 0, result.err
    assert result.out.startswith(f"Ann ({ann.public[:16]}…) has no postings yet: reputation 0")
    assert "┃ index" not in result.out  # no empty table

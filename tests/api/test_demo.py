"""`multitude demo`: a simulated community through the real append path, repeatable by seed."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from rich.console import Console
from sqlalchemy import Engine

from api import demo
from ledger import keys
from ledger.audit import verify_bundle
from ledger.db import make_engine, read_session, upgrade
from ledger.reads import leaderboard
from ledger.service import Ledger
from tests.helpers import run_cli as run
from valuation import format_amount


@contextmanager
def fresh_ledger(tmp_path: Path, name: str) -> Iterator[Ledger]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    try:
        yield Ledger(engine, SigningKey.generate())
    finally:
        engine.dispose()


@pytest.fixture
def two_ledgers(tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    with fresh_ledger(tmp_path, "a.db") as a, fresh_ledger(tmp_path, "b.db") as b:
        yield a, b


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


def test_the_same_seed_gives_the_same_figures_and_another_seed_others(
    two_ledgers: tuple[Ledger, Ledger], tmp_path: Path
) -> None:
    a, b = two_ledgers
    one = demo.run(a, seed=7, members=12, entries=150, console=quiet())
    two = demo.run(b, seed=7, members=12, entries=150, console=quiet())
    assert one.appended == two.appended == 150
    assert one.figures == two.figures
    assert one.refused == 0
    assert one.contributions > 10 and one.evaluations > 50 and one.changed_votes > 0
    assert len(one.figures) == 12
    with fresh_ledger(tmp_path, "c.db") as c:
        other = demo.run(c, seed=8, members=12, entries=150, console=quiet())
    assert other.figures != one.figures


def test_the_community_has_its_habits_a_late_joiner_with_a_referrer_and_rewards(
    two_ledgers: tuple[Ledger, Ledger],
) -> None:
    ledger, _ = two_ledgers
    outcome = demo.run(ledger, seed=1, members=20, entries=250, console=quiet())
    habits = {f.habit for f in outcome.figures}
    assert {"founder", "prolific", "careful", "generous", "harsh", "vote-changer"} <= habits
    assert "late joiner" in habits
    with read_session(ledger.engine) as session:
        members = leaderboard(session, "reputation", 0, 100)
    late = next(m for m in members if m.name == demo.community(1, 20)[-1].name)
    assert late.referrer == demo.community(1, 20)[0].public
    # Some member who joined with 50 tokens has more now: contributor rewards happened.
    founders = {p.public for p in demo.community(1, 20)[:3]}
    assert any(m.tokens > 50 * 10**9 for m in members if m.member not in founders)


def test_the_demo_network_has_the_default_name_of_its_log_key(
    two_ledgers: tuple[Ledger, Ledger],
) -> None:
    """SPEC section 2: a network name is unique to its log; two demos never accept each
    other's entries."""
    a, b = two_ledgers
    demo.run(a, seed=2, members=6, entries=20, console=quiet())
    demo.run(b, seed=2, members=6, entries=20, console=quiet())
    name = a.network().name
    assert name == keys.default_network(a.log_verify_key)
    assert re.fullmatch(r"multitude-[0-9a-f]{8}", name)
    assert a.network().origin == f"localhost/{name}"
    assert b.network().name != name
    assert demo.holds_community(a, 2) and not demo.holds_community(a, 3)


def test_plain_output_when_not_a_terminal(two_ledgers: tuple[Ledger, Ledger]) -> None:
    ledger, _ = two_ledgers
    out = quiet()
    demo.run(ledger, seed=3, members=8, entries=120, console=out)
    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" not in text
    assert "leaderboard" in text and "reputation over time" in text
    assert "of 120 entries appended" in text


def test_sparkline_scales_a_series_to_its_own_range() -> None:
    assert demo.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert demo.sparkline([None, None, 5, 5]) == "  ▁▁"
    assert demo.sparkline([]) == ""


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    result = run(capsys, *args)
    return result.code, result.out, result.err


def exact_figures(url: str) -> dict[str, tuple[str, str]]:
    engine = make_engine(url)
    try:
        with read_session(engine) as session:
            return {
                m.name: (format_amount(m.reputation), format_amount(m.tokens))
                for m in leaderboard(session, "reputation", 0, 1000)
            }
    finally:
        engine.dispose()


def test_demo_seed_1_twice_gives_the_same_figures_and_a_bundle_that_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        url = f"sqlite:///{tmp_path / name / 'multitude.db'}"
        code, out, err = run_cli(capsys, "demo", "--seed", "1", "--db", url)
        assert code == 0, err
        assert "Traceback" not in out + err
        assert f"multitude serve --db {url}" in out
        assert "/docs" in out
        bundle = tmp_path / name / "demo-bundle"
        assert "verified it offline" in out
        report = verify_bundle(bundle)
        assert report.ok and report.entries == 401
        runs.append((exact_figures(url), out, bundle))
    (first, out1, bundle1), (second, out2, bundle2) = runs
    assert first == second and len(first) == 30
    assert (
        out1.split("leaderboard")[1].split("reputation over time")[0]
        == (out2.split("leaderboard")[1].split("reputation over time")[0])
    )
    # The entries carry the real clock: same figures, different entries.
    leaves1 = (bundle1 / "leaves.jsonl").read_text().splitlines()
    leaves2 = (bundle2 / "leaves.jsonl").read_text().splitlines()
    assert json.loads(leaves1[5])["entry"]["body"] == json.loads(leaves2[5])["entry"]["body"]
    assert leaves1[5] != leaves2[5]


def test_demo_skips_a_database_that_holds_its_community_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's first command, run twice, reaches `serve` the second time too."""
    url = f"sqlite:///{tmp_path / 'multitude.db'}"
    code, out, err = run_cli(capsys, "demo", "--db", url, "--entries", "60", "--members", "6")
    assert code == 0, err
    verified = re.search(r"verified it offline: (\d+) signed entries", out)
    appended = re.search(r"(\d+) signed entries in the log, the genesis and (\d+) by members", out)
    assert verified and appended and verified[1] == appended[1] == str(int(appended[2]) + 1)
    size = len((tmp_path / "demo-bundle" / "leaves.jsonl").read_text().splitlines())
    code, out, err = run_cli(capsys, "demo", "--db", url)  # its bundle is there and not empty
    assert code == 0, err
    assert out.strip().splitlines() == [
        f"{url} already holds the demo's community: skipped the demo"
    ]
    assert len(list(Ledger(make_engine(url), None).leaf_bytes(0, 10_000))) == size
    # Another seed's community is not this one: the database is not empty for it.
    code, out, err = run_cli(capsys, "demo", "--db", url, "--seed", "2", "--out", str(tmp_path))
    assert code == 1
    assert err.strip() == f"error: {url} already holds a network: the demo needs an empty database"


def test_demo_refuses_a_database_that_holds_another_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'used.db'}"
    (tmp_path / "net.json").write_text("{}")
    code, _, err = run_cli(capsys, "init", "--db", url, "--config", str(tmp_path / "net.json"))
    assert code == 0, err
    code, out, err = run_cli(capsys, "demo", "--db", url, "--out", str(tmp_path / "other"))
    assert code == 1 and "Traceback" not in out + err
    assert err.strip().splitlines() == [
        f"error: {url} already holds a network: the demo needs an empty database"
    ]


def test_demo_refuses_a_bundle_directory_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "bundle"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "demo", "--out", str(out_dir))
    assert code == 1 and "is not empty" in err and len(err.strip().splitlines()) == 1


def test_demo_on_a_database_it_cannot_open_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    code, out, err = run_cli(capsys, "demo", "--db", url, "--out", str(tmp_path / "b"))
    assert code == 1 and "Traceback" not in out + err
    assert err.strip().splitlines() == [
        "error: the database is unavailable: unable to open database file"
    ]

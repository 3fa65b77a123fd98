"""The offline auditor against bundles exported from a live ledger, untouched and tampered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

import valuation
from ledger import audit, entries
from ledger import checkpoint as cp
from ledger.audit import AuditReport, read_leaf, verify_bundle
from ledger.errors import EntryError, LedgerError, SignatureError
from ledger.export import ExportError, export_bundle
from ledger.service import Ledger
from tests.helpers import Signer, build_history
from valuation import statemap


@pytest.fixture
def history(ledger: Ledger) -> dict[str, Any]:
    return build_history(ledger)


@pytest.fixture
def bundle(ledger: Ledger, history: dict[str, Any], tmp_path: Path) -> Path:
    directory = tmp_path / "bundle"
    export_bundle(ledger, directory)
    return directory


def tampered(bundle: Path, name: str = "tampered") -> Path:
    copy = bundle.parent / name
    shutil.copytree(bundle, copy)
    return copy


def lines(bundle: Path) -> list[bytes]:
    return (bundle / "leaves.jsonl").read_bytes().split(b"\n")[:-1]


def write_lines(bundle: Path, new: list[bytes]) -> None:
    (bundle / "leaves.jsonl").write_bytes(b"".join(line + b"\n" for line in new))


def with_entry_appended(bundle: Path, entry: dict[str, Any]) -> Path:
    """A copy of the bundle with a 13th leaf: `entry`, logged when the last one was."""
    copy = tampered(bundle)
    new = lines(copy)
    new.append(entries.leaf_bytes(entry, json.loads(new[-1])["logged_at"]))
    write_lines(copy, new)
    return copy


def failed(report: AuditReport, file: str, line: int | None, check: str) -> str:
    assert not report.ok, "the tampered bundle should fail"
    failure = report.failure
    assert failure is not None
    assert (failure.file, failure.line, failure.check) == (file, line, check), str(failure)
    return str(failure)


# --- the untouched bundle -------------------------------------------------------------------


def test_an_exported_bundle_verifies_with_its_figures(ledger: Ledger, bundle: Path) -> None:
    report = verify_bundle(bundle)
    assert report.ok and report.failure is None
    size, note = ledger.latest_checkpoint()
    assert report.entries == size == 12
    assert report.members == 3 and report.contributions == 2
    assert report.network == "demo" and report.origin == "example.org/demo"
    checkpoint = cp.open_checkpoint(note, cp.parse_verifier_key(ledger.network().verifier_key))
    assert report.root == checkpoint.root_hash.hex()
    assert checkpoint.state_root is not None
    assert report.state_root == checkpoint.state_root.hex() == ledger.state_root_at(12)[1].hex()
    assert sorted(p.name for p in bundle.iterdir()) == [
        "checkpoint",
        "leaves.jsonl",
        "log.vkey",
        "state.jsonl",
    ]
    assert (bundle / "log.vkey").read_text() == ledger.network().verifier_key
    assert lines(bundle) == list(ledger.leaf_bytes(0, 100))


def test_state_jsonl_holds_every_record_sorted_and_folds_to_the_signed_state_root(
    ledger: Ledger, bundle: Path
) -> None:
    raw = (bundle / "state.jsonl").read_bytes().splitlines(keepends=True)
    records = [json.loads(line) for line in raw]
    assert [line for line in raw] == [entries.canonical(r) + b"\n" for r in records]
    keys = [record["key"] for record in records]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    values = {record["key"]: record["value"] for record in records}
    assert values == dict(valuation.iter_records(ledger.replayed_state()))
    assert statemap.reference_root(values) == ledger.state_root_at(12)[1]
    member = next(key for key in keys if key.startswith("member/"))
    assert set(values[member]) == {"name", "referrer", "reputation", "tokens"}
    assert set(values["network"]) == {"algorithm", "params", "total_reputation"}


def test_progress_is_reported_to_the_end(bundle: Path) -> None:
    seen: list[tuple[int, int]] = []
    assert verify_bundle(bundle, progress=lambda done, total: seen.append((done, total))).ok
    total = (bundle / "leaves.jsonl").stat().st_size
    assert seen[-1] == (total, total)


def test_since_an_older_checkpoint_of_the_same_log_passes(
    ledger: Ledger, bundle: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    export_bundle(ledger, old, tree_size=5)
    assert verify_bundle(old).ok
    report = verify_bundle(bundle, since=old / "checkpoint")
    assert report.ok, report.failure
    assert report.since == 5
    # Equal sizes are consistent too.
    assert verify_bundle(bundle, since=bundle / "checkpoint").ok


def test_a_size_without_a_stored_checkpoint_is_signed_at_export_with_the_log_key(
    ledger: Ledger, log_key: SigningKey, history: dict[str, Any], tmp_path: Path
) -> None:
    # Lines 11 and 12 were appended in one batch: the log signed size 12, not size 11.
    with pytest.raises(ExportError, match="no checkpoint at tree size 11"):
        export_bundle(ledger, tmp_path / "a", tree_size=11)
    result = export_bundle(ledger, tmp_path / "b", tree_size=11, log_key=log_key)
    assert result.signed_now and result.tree_size == 11
    report = verify_bundle(tmp_path / "b")
    assert report.ok and report.entries == 11
    with pytest.raises(ExportError, match="not this network's log key"):
        export_bundle(ledger, tmp_path / "c", tree_size=11, log_key=SigningKey.generate())


def test_export_refuses_a_non_empty_directory_unless_forced(ledger: Ledger, bundle: Path) -> None:
    with pytest.raises(ExportError, match="not empty"):
        export_bundle(ledger, bundle)
    export_bundle(ledger, bundle, tree_size=5, force=True)
    report = verify_bundle(bundle)
    assert report.ok and report.entries == 5
    assert not any(p.name.endswith(".partial") for p in bundle.iterdir())


def test_export_refuses_sizes_the_log_does_not_have(ledger: Ledger, tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="beyond"):
        export_bundle(ledger, tmp_path / "a", tree_size=99)
    with pytest.raises(ExportError, match="size of 1 or more"):
        export_bundle(ledger, tmp_path / "b", tree_size=0)


# --- tampered bundles -------------------------------------------------------------------------


def test_a_changed_character_in_a_title_fails_its_signature(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    assert b"onboarding guide" in new[4]
    new[4] = new[4].replace(b"onboarding guide", b"onboarding guidE")
    write_lines(copy, new)
    message = failed(verify_bundle(copy), "leaves.jsonl", 5, "signature")
    assert message.startswith("leaves.jsonl line 5: bad signature by ")


def test_a_dropped_line_breaks_its_authors_seq_at_that_line(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    del new[6]  # bob's evaluation (line 7); bob's next entry is line 12, now 11
    write_lines(copy, new)
    message = failed(verify_bundle(copy), "leaves.jsonl", 11, "seq")
    assert "skips ahead" in message


def test_a_dropped_join_is_found_where_the_member_first_acts(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    del new[3]  # cy's join; cy's next entry, line 8, is now line 7
    write_lines(copy, new)
    failed(verify_bundle(copy), "leaves.jsonl", 7, "seq")


def test_a_dropped_last_line_fails_the_checkpoint_size(bundle: Path) -> None:
    copy = tampered(bundle)
    write_lines(copy, lines(copy)[:-1])
    message = failed(verify_bundle(copy), "checkpoint", None, "root")
    assert "11 leaves" in message


def test_two_swapped_lines_of_one_author_fail_at_the_first(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    new[6], new[11] = new[11], new[6]  # bob's lines 7 and 12
    write_lines(copy, new)
    failed(verify_bundle(copy), "leaves.jsonl", 7, "seq")


def test_two_swapped_lines_of_two_authors_fail_the_clock(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    new[6], new[7] = new[7], new[6]  # bob's and cy's evaluations, logged apart
    write_lines(copy, new)
    message = failed(verify_bundle(copy), "leaves.jsonl", 8, "logged_at")
    assert "earlier than the entry before it" in message


def test_a_repeated_line_is_a_repeated_seq(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    new.insert(9, new[5])  # bob's contribution again, as line 10
    write_lines(copy, new)
    message = failed(verify_bundle(copy), "leaves.jsonl", 10, "seq")
    assert "repeats" in message


def test_an_inserted_well_signed_entry_fails_the_checkpoint(bundle: Path) -> None:
    copy = with_entry_appended(bundle, Signer().join("Dan"))
    message = failed(verify_bundle(copy), "leaves.jsonl", 13, "root")
    assert "tree size 12" in message


def test_an_entry_valuation_refuses_fails_at_its_line(
    bundle: Path, history: dict[str, Any]
) -> None:
    cy: Signer = history["cy"]
    copy = with_entry_appended(bundle, cy.evaluate("ab" * 32, 1))
    message = failed(verify_bundle(copy), "leaves.jsonl", 13, "valuation")
    assert "is not a contribution" in message


def test_an_entry_of_another_network_fails_at_its_line(bundle: Path) -> None:
    copy = with_entry_appended(bundle, Signer(network="other").join("Eve"))
    failed(verify_bundle(copy), "leaves.jsonl", 13, "network")


def test_network_params_by_a_member_fail(bundle: Path, history: dict[str, Any]) -> None:
    ann: Signer = history["ann"]
    params = ann.sign("network.params", {"valuation": {"algorithm": "backfeed/1", "params": {}}})
    copy = with_entry_appended(bundle, params)
    message = failed(verify_bundle(copy), "leaves.jsonl", 13, "params")
    assert "may only be signed by the log's key" in message


def test_a_line_not_in_canonical_form_fails_its_shape(bundle: Path) -> None:
    copy = tampered(bundle)
    new = lines(copy)
    new[2] = new[2].replace(b'{"entry":', b'{ "entry":', 1)
    write_lines(copy, new)
    failed(verify_bundle(copy), "leaves.jsonl", 3, "leaf")
    new[2] = b"not json"
    write_lines(copy, new)
    failed(verify_bundle(copy), "leaves.jsonl", 3, "leaf")


def _state_lines(bundle: Path) -> list[bytes]:
    return (bundle / "state.jsonl").read_bytes().splitlines(keepends=True)


def test_an_edited_figure_in_state_jsonl_is_named_by_its_line_and_record(bundle: Path) -> None:
    copy = tampered(bundle)
    raw = _state_lines(copy)
    number, record = next(
        (n, json.loads(line))
        for n, line in enumerate(raw, start=1)
        if json.loads(line)["key"].startswith("member/")
    )
    honest = record["value"]["reputation"]
    record["value"]["reputation"] = "999.5"
    raw[number - 1] = entries.canonical(record) + b"\n"
    (copy / "state.jsonl").write_bytes(b"".join(raw))
    message = failed(verify_bundle(copy), "state.jsonl", number, "state")
    assert message.endswith(f"{record['key']}.reputation is 999.5, replay gives {honest}")


def test_a_dropped_an_added_or_a_reordered_record_fails_at_its_line(bundle: Path) -> None:
    raw = _state_lines(bundle)
    copy = tampered(bundle)
    (copy / "state.jsonl").write_bytes(b"".join(raw[:2] + raw[3:]))
    missing = json.loads(raw[2])["key"]
    assert f"the record {missing!r} is missing" in failed(
        verify_bundle(copy), "state.jsonl", 3, "state"
    )
    (copy / "state.jsonl").write_bytes(b"".join(raw) + b'{"key":"zzz","value":{}}\n')
    assert "'zzz' is not a record" in failed(
        verify_bundle(copy), "state.jsonl", len(raw) + 1, "state"
    )
    (copy / "state.jsonl").write_bytes(b"".join([raw[1], raw[0], *raw[2:]]))
    failed(verify_bundle(copy), "state.jsonl", 1, "state")
    (copy / "state.jsonl").write_bytes(b"".join(raw[:-1]))
    assert "the file ends here" in failed(verify_bundle(copy), "state.jsonl", len(raw), "state")


def test_a_record_not_in_canonical_form_fails(bundle: Path) -> None:
    copy = tampered(bundle)
    raw = _state_lines(copy)
    raw[0] = json.dumps(json.loads(raw[0]), indent=1).replace("\n", " ").encode() + b"\n"
    (copy / "state.jsonl").write_bytes(b"".join(raw))
    assert "RFC 8785" in failed(verify_bundle(copy), "state.jsonl", 1, "state")


def test_a_checkpoint_whose_state_line_lies_fails(bundle: Path, log_key: SigningKey) -> None:
    copy = tampered(bundle)
    honest = cp.parse_checkpoint_body(
        cp.open_note((copy / "checkpoint").read_text(), verifier_of(copy))
    )
    lying = cp.Checkpoint(honest.origin, honest.size, honest.root_hash, b"\x07" * 32)
    (copy / "checkpoint").write_text(cp.sign_checkpoint(lying, log_key))
    message = failed(verify_bundle(copy), "checkpoint", None, "state")
    assert "signs state root 0707" in message and "replayed records fold to" in message


def test_a_checkpoint_signed_by_another_key_fails(bundle: Path) -> None:
    copy = tampered(bundle)
    honest = cp.parse_checkpoint_body(
        cp.open_note((copy / "checkpoint").read_text(), verifier_of(copy))
    )
    forged = cp.sign_checkpoint(honest, SigningKey.generate())
    (copy / "checkpoint").write_text(forged)
    message = failed(verify_bundle(copy), "checkpoint", None, "checkpoint")
    assert "not signed by the log key in log.vkey" in message


def test_a_checkpoint_of_another_root_fails(bundle: Path, log_key: SigningKey) -> None:
    copy = tampered(bundle)
    checkpoint = cp.Checkpoint("example.org/demo", 12, b"\x01" * 32)
    (copy / "checkpoint").write_text(cp.sign_checkpoint(checkpoint, log_key))
    message = failed(verify_bundle(copy), "checkpoint", None, "root")
    assert "signs root 0101" in message


def verifier_of(bundle: Path) -> cp.Verifier:
    return cp.parse_verifier_key((bundle / "log.vkey").read_text())


def test_since_a_checkpoint_of_an_unrelated_log_fails(bundle: Path, tmp_path: Path) -> None:
    other = SigningKey.generate()
    note = cp.sign_checkpoint(cp.Checkpoint("example.org/demo", 3, b"\x02" * 32), other)
    (tmp_path / "other").write_text(note)
    report = verify_bundle(bundle, since=tmp_path / "other")
    message = failed(report, str(tmp_path / "other"), None, "since")
    assert "not signed by the log key" in message


def test_since_a_rewritten_history_fails_consistency(
    bundle: Path, log_key: SigningKey, tmp_path: Path
) -> None:
    # Signed by the right key, but of another history: what a forking log would show.
    note = cp.sign_checkpoint(cp.Checkpoint("example.org/demo", 3, b"\x03" * 32), log_key)
    (tmp_path / "forked").write_text(note)
    report = verify_bundle(bundle, since=tmp_path / "forked")
    message = failed(report, str(tmp_path / "forked"), None, "consistency")
    assert "does not extend it" in message


def test_since_a_newer_checkpoint_is_refused(ledger: Ledger, bundle: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    export_bundle(ledger, old, tree_size=5)
    report = verify_bundle(old, since=bundle / "checkpoint")
    failed(report, str(bundle / "checkpoint"), None, "since")


def test_a_truncated_last_line_is_named(bundle: Path) -> None:
    copy = tampered(bundle)
    data = (copy / "leaves.jsonl").read_bytes()
    (copy / "leaves.jsonl").write_bytes(data[:-40])
    message = failed(verify_bundle(copy), "leaves.jsonl", 12, "leaf")
    assert "truncated" in message
    (copy / "leaves.jsonl").write_bytes(data[:-1])  # only the final newline is missing
    failed(verify_bundle(copy), "leaves.jsonl", 12, "leaf")


@pytest.mark.parametrize("name", ["leaves.jsonl", "checkpoint", "log.vkey", "state.jsonl"])
def test_a_missing_file_is_named(bundle: Path, name: str) -> None:
    copy = tampered(bundle)
    (copy / name).unlink()
    message = failed(verify_bundle(copy), name, None, "file")
    assert f"has no {name}" in message


def test_a_missing_directory_is_a_sentence(tmp_path: Path) -> None:
    report = verify_bundle(tmp_path / "nowhere")
    assert report.failure is not None and "does not exist" in str(report.failure)


def test_a_bundle_of_another_network_fails_at_the_genesis(
    bundle: Path, engine: Any, tmp_path: Path
) -> None:
    copy = tampered(bundle)
    other = cp.verifier_key("example.org/demo", bytes(SigningKey.generate().verify_key))
    (copy / "log.vkey").write_text(other)
    message = failed(verify_bundle(copy), "leaves.jsonl", 1, "genesis")
    assert "mixes two logs" in message


def test_an_empty_leaves_file_is_a_sentence(bundle: Path) -> None:
    copy = tampered(bundle)
    (copy / "leaves.jsonl").write_bytes(b"")
    failed(verify_bundle(copy), "leaves.jsonl", None, "leaf")


# --- the fast leaf reader agrees with the reference parser ----------------------------------


def test_read_leaf_agrees_with_parse_leaf_on_every_leaf(bundle: Path) -> None:
    for raw in lines(bundle):
        fast = read_leaf(raw)
        slow = entries.parse_leaf(raw)
        assert fast.entry == slow.entry
        assert fast.logged_at == slow.logged_at
        assert fast.signed == entries.signing_bytes(slow.entry.data)


_KEY = SigningKey(b"\x07" * 32)


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(
    title=_TEXT,
    tags=st.lists(_TEXT.map(lambda t: t[:8]), max_size=3),
    seq=st.integers(1, 2**53 - 1),
)
def test_read_leaf_agrees_with_parse_leaf_on_any_text(
    title: str, tags: list[str], seq: int
) -> None:
    data = entries.sign_entry(
        _KEY,
        network="demo",
        kind="contribution.submit",
        seq=seq,
        body={"title": title, "tags": tags},
        ts="2026-11-24T06:32:20.123Z",
    )
    raw = entries.leaf_bytes(data, "2026-11-24T06:32:21.000001Z")
    try:
        slow = entries.parse_leaf(raw)
    except EntryError as refused:  # control characters, blank text (SPEC section 2)
        with pytest.raises(EntryError) as also:
            read_leaf(raw)
        assert str(also.value) == str(refused)
        return
    fast = read_leaf(raw)
    assert fast.entry == slow.entry and fast.logged_at == slow.logged_at
    assert fast.signed == entries.signing_bytes(data)


def test_read_leaf_refuses_what_parse_leaf_refuses() -> None:
    data = entries.sign_entry(_KEY, network="demo", kind="member.join", seq=1, body={"name": "Ann"})
    raw = entries.leaf_bytes(data, "2026-11-24T06:32:21.000001Z")
    for bad in (
        raw.replace(b'"Ann"', b'"A\\u006en"'),  # an escape JCS would not write
        raw.replace(b'"seq":1', b'"seq":1.0'),
        raw.replace(b'"seq":1', b'"seq":NaN'),
        raw.replace(b'"logged_at":"2026-11-24T06:32:21.000001Z"', b'"logged_at":"yesterday"'),
        raw[:-1] + b',"x":1}',
        raw.replace(b'"seq":1', b'"seq":1,"seq":1'),
    ):
        with pytest.raises(EntryError):
            entries.parse_leaf(bad)
        with pytest.raises(EntryError):
            read_leaf(bad)
    with pytest.raises(SignatureError):
        read_leaf(raw.replace(b'"Ann"', b'"Anne"'))


# --- --jobs: the same report from worker processes -------------------------------------------


def _tampered_variants(bundle: Path, history: dict[str, Any]) -> list[Path]:
    made: list[Path] = []

    def variant(edit: Any) -> None:
        copy = tampered(bundle, f"variant{len(made)}")
        new = lines(copy)
        edit(new)
        write_lines(copy, new)
        made.append(copy)

    cy: Signer = history["cy"]

    def late_bad_signature(new: list[bytes]) -> None:
        new[10] = new[10].replace(b'"value":1', b'"value":0')

    def bad_signature_then_bad_seq(new: list[bytes]) -> None:
        new[4] = new[4].replace(b"guide", b"guidE")
        new[6], new[11] = new[11], new[6]

    def bad_shape_and_seq_on_one_line(new: list[bytes]) -> None:
        new[7] = new[7].replace(b'"seq":2', b'"seq":9')  # cy's vote: seq and signature break

    def refused_by_valuation(new: list[bytes]) -> None:
        logged_at = json.loads(new[-1])["logged_at"]
        new.append(entries.leaf_bytes(cy.evaluate("cd" * 32, 1), logged_at))

    def not_json(new: list[bytes]) -> None:
        new[8] = b'{"entry": 1}'

    for edit in (
        late_bad_signature,
        bad_signature_then_bad_seq,
        bad_shape_and_seq_on_one_line,
        refused_by_valuation,
        not_json,
        lambda new: new.__delitem__(3),
        lambda new: None,
    ):
        variant(edit)
    return made


@pytest.mark.parametrize("chunk", [2, 512])
def test_jobs_give_the_same_report_as_one_process(
    bundle: Path,
    history: dict[str, Any],
    ledger: Ledger,
    tmp_path: Path,
    chunk: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit, "_CHUNK", chunk)  # lines per worker task: many tasks in flight
    old = tmp_path / "old"
    export_bundle(ledger, old, tree_size=5)
    for variant in [bundle, *_tampered_variants(bundle, history)]:
        for since in (None, old / "checkpoint"):
            one = verify_bundle(variant, since=since)
            two = verify_bundle(variant, since=since, jobs=2)
            assert one.failure == two.failure, variant
            assert (one.ok, one.entries, one.root, one.state_root) == (
                two.ok,
                two.entries,
                two.root,
                two.state_root,
            )

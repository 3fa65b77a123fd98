"""The worked examples of docs/ run, print what their pages show, and agree with the code.

The protocol pages are the contract, and their scripts are what an outside implementer copies:
each is run here as the page shows it, and its results are checked against the project's own
modules (`valuation.statemap`, `ledger.checkpoint`, `ledger.entries`, `ledger.merkle`).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from nacl.exceptions import BadSignatureError

from ledger import checkpoint as cp
from ledger import merkle
from ledger.entries import parse_entry
from valuation import statemap

DOCS = Path(__file__).resolve().parents[2] / "docs"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(page: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a page, in order: (language, text)."""
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer((DOCS / page).read_text())]


def _script_and_output(page: str, number: int = 0) -> tuple[str, str]:
    """The `number`-th Python block of a page and the block that follows it ("" if none)."""
    blocks = _blocks(page)
    positions = [i for i, (language, _) in enumerate(blocks) if language == "python"]
    at = positions[number]
    return blocks[at][1], blocks[at + 1][1] if at + 1 < len(blocks) else ""


def _run(script: str) -> tuple[str, dict[str, Any]]:
    """What the script prints, and the names it leaves behind."""
    names: dict[str, Any] = {"__name__": "__docs__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(script, "<docs>", "exec"), names)
    return out.getvalue(), names


def test_state_map_example_prints_what_the_page_shows_and_agrees_with_valuation_statemap() -> None:
    script, shown = _script_and_output("protocol/state-map.md")
    printed, names = _run(script)
    assert printed == shown
    records = names["records"]
    tree = statemap.StateMap.of(records.items())
    assert tree.root == names["state_root"] == statemap.reference_root(records)
    for who in ("ANN", "CARL"):
        key = f"member/{names[who]}"
        ours = tree.prove(key).to_json()
        assert ours["value"] == records.get(key)
        page = names["prove"](records, key)
        assert {k: ours[k] for k in page} == page
        statemap.verify_proof(statemap.proof_from_json(ours), tree.root)
        assert names["verify"](page, tree.root)


def test_checkpoint_example_verifies_as_ledger_checkpoint_reads_it() -> None:
    script, shown = _script_and_output("protocol/checkpoints.md")
    printed, names = _run(script)
    assert printed == shown
    verifier = cp.parse_verifier_key(
        "localhost/coop+5a66af4c+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    )
    opened = cp.open_checkpoint(names["note"], verifier)
    assert (opened.origin, opened.size) == ("localhost/coop", 3)
    assert opened.state_root is not None
    assert printed.split()[-1] == opened.state_root.hex()
    # The example's state line is the state map example's root.
    _, state_names = _run(_script_and_output("protocol/state-map.md")[0])
    assert opened.state_root == state_names["state_root"]
    # A changed byte of the note does not verify with the page's verifier either.
    forged = names["note"].replace("\n3\n", "\n4\n")
    with pytest.raises(BadSignatureError):
        names["open_checkpoint"](forged, cp.verifier_key(verifier.name, verifier.public_key))


def test_entry_example_signs_what_the_page_shows_and_ledger_entries_accepts_it() -> None:
    blocks = _blocks("protocol/entries.md")
    script, signed_jcs, shown = next(
        (blocks[i][1], blocks[i + 1][1], blocks[i + 2][1])
        for i, (language, _) in enumerate(blocks)
        if language == "python"
    )
    printed, names = _run(script)
    for line in shown.splitlines():
        assert line in printed.splitlines()
    entry = names["entry"]
    assert rfc8785.dumps({k: v for k, v in entry.items() if k != "sig"}).decode() + "\n" == (
        signed_jcs
    )
    parsed = parse_entry(json.loads(json.dumps(entry)))
    assert parsed.id == names["entry_id"]


def test_log_page_root_script_gives_merkle_root(tmp_path: Path) -> None:
    script, _ = _script_and_output("protocol/log.md", 0)
    leaves = [json.dumps({"n": i}).encode() for i in range(13)]
    root = merkle.root([merkle.leaf_hash(leaf) for leaf in leaves])
    (tmp_path / "leaves.jsonl").write_bytes(b"".join(leaf + b"\n" for leaf in leaves))
    (tmp_path / "checkpoint").write_text(f"x\n13\n{base64.b64encode(root).decode()}\n")
    (tmp_path / "page.py").write_text(script)
    printed = subprocess.run(
        [sys.executable, str(tmp_path / "page.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.splitlines()[0] == f"13 leaves, root {base64.b64encode(root).decode()}"


def test_log_page_inclusion_verifier_agrees_with_rfc_proofs_and_refuses_a_forged_one() -> None:
    script, _ = _script_and_output("protocol/log.md", 1)
    _, names = _run(script)
    verify = names["verify_inclusion"]
    leaves = [bytes([i]) * 3 for i in range(20)]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    for size in range(1, len(leaves) + 1):
        root = merkle.root(hashes[:size])
        for index in range(size):
            proof = merkle.inclusion_proof_ref(index, hashes[:size])
            assert verify(leaves[index], index, size, proof, root)
            assert not verify(leaves[index] + b"!", index, size, proof, root)
            if proof:
                assert not verify(leaves[index], index, size, [bytes(32), *proof[1:]], root)
        assert not verify(leaves[0], size, size, [], root)

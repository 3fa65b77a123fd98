"""Export the audit bundle of SPEC section 7 from a ledger's database.

A bundle is a directory of four files:

- `leaves.jsonl`: the exact leaf bytes of leaves 0 .. N-1, one a line, each ended by "\\n";
- `checkpoint`: the signed checkpoint (SPEC section 4) of tree size N, as stored when the log
  reached N; if the log signed none at exactly N (appends of a batch share one checkpoint), one
  is signed now with the log key, and without the key the export is refused;
- `log.vkey`: the log's verifier key text, no trailing newline;
- `state.jsonl`: every record of the state map (SPEC section 5) after the N entries, one
  `{"key", "value"}` a line in RFC 8785 form, sorted by key.

The leaves are streamed from the database in chunks and written as they come, while valuation
replays them, so the state at an older size costs one pass and memory stays flat but for the
valuation state. Every file is written under a temporary name and renamed when complete; the
root of the written leaves is checked against the checkpoint, and the replayed records' state
root against the checkpoint's `state` line, before anything is renamed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from nacl.signing import SigningKey

import valuation
from ledger import checkpoint as cp
from ledger import repository as repo
from ledger.audit import (
    CHECKPOINT,
    LEAVES,
    LOG_VKEY,
    STATE,
    TreeBuilder,
    read_leaf,
    sorted_records,
    state_lines,
)
from ledger.db import read_session
from ledger.entries import event_of
from ledger.errors import IntegrityError, LedgerError, NotFoundError
from ledger.service import Ledger
from valuation import statemap

Progress = Callable[[int, int], None]
"""Called as `progress(leaves_written, leaves_total)`."""

_PROGRESS_EVERY: Final = 4096
_PARTIAL: Final = ".partial"


class ExportError(LedgerError):
    """The bundle cannot be written: the directory is in use, the size or key is missing, ..."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    tree_size: int
    root: str  # hex
    state_root: str  # hex
    signed_now: bool  # the checkpoint was signed by this export, not stored by the log


def export_bundle(
    ledger: Ledger,
    directory: Path,
    tree_size: int | None = None,
    *,
    force: bool = False,
    log_key: SigningKey | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the audit bundle of `ledger` at `tree_size` (default: the latest) into `directory`.

    Refuses a directory that exists and is not empty unless `force`. `log_key` is needed only
    when the log stored no checkpoint at exactly `tree_size`.
    """
    directory = Path(directory)
    _check_directory(directory, force)
    network = ledger.network()
    latest, _ = ledger.latest_checkpoint()
    size = latest if tree_size is None else tree_size
    if size < 1:
        raise ExportError(f"tree size {size} holds no genesis: export a size of 1 or more")
    if size > latest:
        raise NotFoundError(f"tree size {size} is beyond the log's size {latest}")
    verifier = cp.parse_verifier_key(network.verifier_key)
    note = _stored_checkpoint(ledger, size)
    signed_now = note is None
    if note is None:
        _check_log_key(ledger, size, log_key, latest)

    directory.mkdir(parents=True, exist_ok=True)
    leaves_path = directory / (LEAVES + _PARTIAL)
    try:
        state, root = _write_leaves(ledger, size, leaves_path, progress)
        if state.tree_size != size:
            raise IntegrityError(f"the database gave {state.tree_size} leaves for tree size {size}")
        records = sorted_records(state)
        state_root = statemap.StateMap.of(records).root
        if note is None:
            assert log_key is not None
            signed = cp.Checkpoint(network.origin, size, root, state_root)
            note = cp.sign_checkpoint(signed, log_key)
        checkpoint = cp.open_checkpoint(note, verifier)
        if root != checkpoint.root_hash:
            raise IntegrityError(
                f"the stored leaves have root {root.hex()}, but the checkpoint of size {size} "
                f"signs {checkpoint.root_hash.hex()}: the database is corrupt"
            )
        if checkpoint.state_root is not None and checkpoint.state_root != state_root:
            raise IntegrityError(
                f"the replayed state root at size {size} is {state_root.hex()}, but the "
                f"checkpoint signs {checkpoint.state_root.hex()}: the database is corrupt"
            )
    except BaseException:
        leaves_path.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(size, size)
    _write(directory / STATE, (line for _, line in state_lines(records)))
    _write(directory / CHECKPOINT, [note.encode("utf-8")])
    _write(directory / LOG_VKEY, [network.verifier_key.removesuffix("\n").encode("utf-8")])
    os.replace(leaves_path, directory / LEAVES)
    return ExportResult(
        directory=directory,
        tree_size=size,
        root=root.hex(),
        state_root=state_root.hex(),
        signed_now=signed_now,
    )


def _write_leaves(
    ledger: Ledger, size: int, path: Path, progress: Progress | None
) -> tuple[valuation.State, bytes]:
    """Stream leaves 0 .. size-1 from the database into `path`, one a line, while valuation
    replays them and the tree takes them in; the state and the root."""
    tree = TreeBuilder()
    with path.open("wb") as handle:

        def events() -> Iterator[valuation.Event]:
            for index, raw in enumerate(ledger.leaf_bytes(0, size)):
                handle.write(raw + b"\n")
                tree.add(raw)
                leaf = read_leaf(raw, verify=False)
                if progress is not None and (index + 1) % _PROGRESS_EVERY == 0:
                    progress(index + 1, size)
                yield event_of(leaf.entry, index, leaf.logged_at)

        state = valuation.replay(events())
        handle.flush()
        os.fsync(handle.fileno())
    return state, tree.root()


def _check_directory(directory: Path, force: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise ExportError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ExportError(
            f"{directory} is not empty; choose an empty directory or pass --force to overwrite"
        )


def _stored_checkpoint(ledger: Ledger, size: int) -> str | None:
    """The checkpoint the log signed at `size`, if it signed one at exactly that size."""
    with read_session(ledger.engine) as session:
        row = repo.checkpoint_at(session, size)
        return None if row is None else row.note


def _check_log_key(ledger: Ledger, size: int, log_key: SigningKey | None, latest: int) -> None:
    """The log key, needed to sign a checkpoint at a size the log signed none at."""
    if log_key is None:
        raise ExportError(
            f"the log signed no checkpoint at tree size {size} (appends in one batch share a "
            f"checkpoint) and the log key is not available to sign one: give --log-key, or "
            f"export the latest size {latest}"
        )
    if bytes(log_key.verify_key).hex() != ledger.network().log_public_key:
        raise ExportError("the log key given is not this network's log key")


def _write(path: Path, chunks: Iterable[bytes]) -> None:
    partial = path.with_name(path.name + _PARTIAL)
    with partial.open("wb") as handle:
        handle.writelines(chunks)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)

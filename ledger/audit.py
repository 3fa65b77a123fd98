"""The offline auditor: verify an audit bundle (SPEC section 7) with no server and no database.

Pure: it reads the four files of a bundle and uses only `ledger.entries`, `ledger.rules`,
`ledger.merkle`, `ledger.checkpoint`, `ledger.errors` and `valuation` (and `ledger.processes` for
its worker processes). `verify_bundle` never
raises for a problem of the bundle: it returns an `AuditReport` whose `failure` names the file,
the line, the check and why. The checks, in the order a failure is reported:

1. The files: `leaves.jsonl`, `checkpoint`, `log.vkey` and `state.jsonl` exist and are readable;
   `log.vkey` is a verifier key.
2. One streaming pass over `leaves.jsonl`, line by line, memory flat but for the valuation state:
   a. the line ends in "\\n" (a last line without one is a truncated file) and its bytes are
      their own RFC 8785 form: a leaf `{"entry", "logged_at"}` of the exact shape of SPEC
      section 2 (`leaf`);
   b. the entry's signature by its author (`signature`);
   c. line 1 is the `network.genesis` naming the key of `log.vkey` as its `log_key` (`genesis`);
   d. the log's rules (`ledger.rules`): the genesis is signed by its `log_key`, named after its
      `origin` (`genesis`); every later entry is of the genesis network (`network`), each
      author's `seq` is 1, then +1 (`seq`), a `network.params` is signed by the log key and
      there is no second genesis (`params`, `genesis`), `logged_at` never decreases
      (`logged_at`); once line 1 holds, the `checkpoint` and the `--since` checkpoint are
      opened with the log key (`checkpoint`, `since`);
   e. valuation applies the entry without refusal (`valuation`);
   f. when the tree reaches the `--since` checkpoint's size, its root equals that checkpoint's:
      the bundle extends it, computed from the leaves (`consistency`).
3. The checkpoint: its size is the number of lines and its root the root of the leaves (`root`).
4. `state.jsonl`: its records equal the replayed ones, line by line (`state`), and they fold
   to the state root the checkpoint's `state` line signs (`state`, reported on `checkpoint`).

Duplicate entries are not looked up in a set of ids: an entry id is the hash of the whole signed
entry, author and `seq` included, so a repeated entry repeats its author's `seq` and fails (d).

The per-line work dominates, and within it the Ed25519 verification. The leaf is parsed once
with the standard library and compared with its canonical re-serialisation (which, for the
closed, ASCII-keyed objects of SPEC section 2, is RFC 8785); the entry's bytes and the bytes the
author signed are cut out of the leaf bytes rather than serialised again. Anything unusual falls
back to `ledger.entries.parse_leaf`, which decides and words the error.

With `jobs` > 1, worker processes run (a) and (b) on chunks of lines, in order, while this
process reads the lines and runs (c) to (f); a failure it finds waits for the workers' verdict
on the lines before it, so the report is the same as with one process.

`state.jsonl` holds every record of the state map (SPEC section 5) at the bundle's size, one
`{"key", "value"}` a line in RFC 8785 form, sorted by key (`state_lines`, which export writes
with): it is compared a line at a time, and a line is parsed only to name what differs.
"""

from __future__ import annotations

import collections
import hashlib
import json
import multiprocessing
import multiprocessing.pool
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

import valuation
from ledger import checkpoint as cp
from ledger import entries, merkle, rules
from ledger.errors import EntryError, LedgerError, LogRuleError, SignatureError
from ledger.processes import exit_with_parent
from valuation import jcs, statemap

LEAVES: Final = "leaves.jsonl"
CHECKPOINT: Final = "checkpoint"
LOG_VKEY: Final = "log.vkey"
STATE: Final = "state.jsonl"
BUNDLE_FILES: Final = (LEAVES, CHECKPOINT, LOG_VKEY, STATE)

Progress = Callable[[int, int], None]
"""Called as `progress(bytes_done, bytes_total)` while `leaves.jsonl` is read."""

MAX_LINE: Final = 16 * 2**20  # bytes in one line of leaves.jsonl, newline included
_PROGRESS_EVERY: Final = 4096  # lines between progress calls
_FRONTIER_BATCH: Final = 1024  # leaf hashes folded into the frontier at once
_CHUNK: Final = 512  # lines a worker checks at once
_LEAF_HEAD: Final = b'{"entry":'
_LOGGED_AT_KEY: Final = b',"logged_at":'
# The log writes `logged_at` with microseconds; this form is checked by `datetime.fromisoformat`,
# every other by `entries.parse_timestamp`, which accepts the same times.
_LOG_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


# --- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditFailure:
    """The first check that failed: in which file, at which line (1-based) if any, and why."""

    file: str
    line: int | None
    check: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file} line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What `verify_bundle` found. `ok` is true exactly when `failure` is None.

    `entries` is the number of leaves that passed every line check (all of them when `ok`);
    `root` and `state_root` are hex, empty until computed.
    """

    ok: bool
    entries: int
    members: int
    contributions: int
    network: str
    origin: str
    root: str
    state_root: str
    since: int | None
    seconds: float
    failure: AuditFailure | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Failed(Exception):
    """Internal: carries the first failure out of the checks."""

    def __init__(self, failure: AuditFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _fail(file: str, check: str, message: str, line: int | None = None) -> _Failed:
    return _Failed(AuditFailure(file=file, line=line, check=check, message=message))


def short(key: str) -> str:
    """A public key or entry id as people quote it: its first 8 hex characters."""
    return key[:8] + "…" if len(key) > 8 else key


# --- one leaf -------------------------------------------------------------------------------------


class _NotJSON(ValueError):
    pass


def _refuse(text: str) -> Any:
    raise _NotJSON(text)


@dataclass(frozen=True, slots=True)
class CheckedLeaf:
    """A leaf whose bytes, shape and (unless asked not to) signature have been checked."""

    entry: entries.Entry
    logged_at: str
    moment: datetime  # logged_at, parsed
    signed: bytes  # what the author signed: the domain tag and JCS of the entry without `sig`


def _fast_value(raw: bytes) -> dict[str, Any] | None:
    """The leaf as JSON if the bytes are, by the quick test, their own canonical form."""
    try:
        text = raw.decode("utf-8")
        # Floats and NaN are refused here; integers are range-checked by `check_shape`, as
        # every integer of a member's entry is one of its fields (`v`, `seq`, `value`).
        value = json.loads(text, parse_float=_refuse, parse_constant=_refuse)
        again = jcs.dumps_plain(value)
    except (ValueError, RecursionError):
        return None
    if again != text or type(value) is not dict or len(value) != 2:
        return None
    entry, logged_at = value.get("entry"), value.get("logged_at")
    if type(entry) is not dict or type(logged_at) is not str:
        return None
    # Objects of SPEC section 2 have ASCII keys, for which sorted JSON is RFC 8785
    # (`jcs.is_plain`: `check_shape` then fixes the rest). Only the valuation params of the
    # log's own entries are open objects: those take the slow path.
    if entry.get("kind") in entries.LOG_KINDS:
        return None
    return value


def read_leaf(raw: bytes, *, verify: bool = True) -> CheckedLeaf:
    """Check exact leaf bytes (no trailing newline): canonical form, shape and signature.

    Raises `EntryError` (or `MalformedJSONError`) for a malformed leaf and `SignatureError` for
    a bad signature, with the same sentences as `ledger.entries.parse_leaf`.
    """
    value = _fast_value(raw)
    if value is None:
        # The slow, exact path: it raises the precise error, or accepts what the quick test
        # could not decide.
        leaf = entries.parse_leaf(raw, verify=False)
        data: Any = leaf.entry.data
        logged_at = leaf.logged_at
    else:
        data = value["entry"]
        logged_at = value["logged_at"]
        entries.check_shape(data)
    moment = _log_time(logged_at)
    # The leaf is `{"entry":<JCS of the entry>,"logged_at":"..."}`; the entry's bytes are cut out.
    end = raw.rindex(_LOGGED_AT_KEY)
    entry_bytes = raw[len(_LEAF_HEAD) : end]
    # Keys sort as author, body, kind, network, seq, sig, ts, v: removing the `sig` member from
    # JCS(entry) leaves JCS(entry without sig). Its last occurrence is the real one: only `ts`
    # and `v` follow it.
    sig_member = b',"sig":"' + data["sig"].encode("ascii") + b'"'
    at = entry_bytes.rindex(sig_member)
    signed = entries.ENTRY_DOMAIN + entry_bytes[:at] + entry_bytes[at + len(sig_member) :]
    entry = entries.Entry(data=data, id=hashlib.sha256(entry_bytes).hexdigest(), jcs=entry_bytes)
    if verify:
        entries.check_signature(entry.author, data["sig"], signed)
    return CheckedLeaf(entry=entry, logged_at=logged_at, moment=moment, signed=signed)


def read_leaf_unchecked(raw: bytes) -> CheckedLeaf:
    """What the ordered checks need of a leaf, trusting the workers to check the rest (and
    what a replay of a bundle that is not being verified needs: `ledger.whatif`).

    Anything unexpected goes to `read_leaf`, which words the error (or accepts the leaf).
    """
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    entry = value.get("entry") if type(value) is dict else None
    logged_at = value.get("logged_at") if type(value) is dict else None
    end = raw.rfind(_LOGGED_AT_KEY)
    if (
        type(entry) is not dict
        or type(logged_at) is not str
        or end < 0
        or not raw.startswith(_LEAF_HEAD)
        or entry.get("kind") in entries.LOG_KINDS
        or type(entry.get("kind")) is not str
        or type(entry.get("author")) is not str
        or type(entry.get("network")) is not str
        or type(entry.get("seq")) is not int
        or type(entry.get("body")) is not dict
    ):
        return read_leaf(raw, verify=False)
    entry_bytes = raw[len(_LEAF_HEAD) : end]
    return CheckedLeaf(
        entry=entries.Entry(
            data=entry, id=hashlib.sha256(entry_bytes).hexdigest(), jcs=entry_bytes
        ),
        logged_at=logged_at,
        moment=_log_time(logged_at),
        signed=b"",
    )


class TreeBuilder:
    """The RFC 9162 tree of a stream of leaves in O(log n) memory: its frontier (the compact
    range), into which leaf hashes are folded a batch at a time by `merkle.append`."""

    def __init__(self) -> None:
        self.size = 0
        self._frontier: merkle.Frontier = []
        self._pending: list[bytes] = []

    def add(self, leaf: bytes) -> None:
        """Append the leaf with these exact bytes."""
        self._pending.append(merkle.leaf_hash(leaf))
        self.size += 1
        if len(self._pending) >= _FRONTIER_BATCH:
            self._fold()

    def root(self) -> bytes:
        """MTH of the leaves added so far."""
        self._fold()
        return merkle.root_from_frontier(self._frontier)

    def _fold(self) -> None:
        if self._pending:
            folded = self.size - len(self._pending)
            self._frontier, _ = merkle.append(self._frontier, folded, self._pending)
            self._pending = []


def _log_time(value: str) -> datetime:
    if _LOG_TIME.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # parse_timestamp words the error
    try:
        return entries.parse_timestamp(value)
    except EntryError as exc:
        raise EntryError(f"leaf.logged_at: {exc}") from None


# --- the bundle ---------------------------------------------------------------------------------


def verify_bundle(
    path: Path,
    since: Path | None = None,
    progress: Progress | None = None,
    *,
    jobs: int = 1,
) -> AuditReport:
    """Verify the audit bundle in directory `path`, optionally against an older checkpoint.

    Returns a report; a problem of the bundle is never raised but named in `report.failure`.
    `jobs` > 1 checks each line's bytes, shape and signature in that many worker processes
    while this one runs the checks that need the log's order; the report is the same.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, not {jobs}")
    started = time.perf_counter()
    with _Workers(jobs) as workers:
        auditor = _Auditor(Path(path), None if since is None else Path(since), progress, workers)
        failure: AuditFailure | None = None
        try:
            auditor.run()
        except _Failed as failed:
            failure = failed.failure
        except Exception as exc:  # a bug of ours must not end in a traceback for the auditor
            failure = AuditFailure(
                file=LEAVES,
                line=auditor.size + 1,
                check="internal",
                message=f"the verifier failed unexpectedly ({type(exc).__name__}: {exc}); "
                "this is a bug in multitude verify, please report it",
            )
        if failure is not None and workers.enabled:
            # A line the workers found bad before this failure is the first failure.
            earlier = workers.first_failure(
                upto=failure.line if failure.file == LEAVES and failure.line else auditor.size
            )
            if earlier is not None:
                failure = earlier
                auditor.size = (earlier.line or 1) - 1
    return auditor.report(failure, time.perf_counter() - started)


def _check_chunk(chunk: tuple[int, list[bytes]]) -> tuple[int, str, str] | None:
    """In a worker: the first line of the chunk whose bytes, shape or signature is bad."""
    first, lines = chunk
    for offset, raw in enumerate(lines):
        try:
            read_leaf(raw)
        except SignatureError as exc:
            return first + offset, "signature", str(exc)
        except LedgerError as exc:
            return first + offset, "leaf", str(exc)
        except Exception as exc:
            return first + offset, "internal", f"{type(exc).__name__}: {exc}"
    return None


class _Workers:
    """Worker processes checking the per-line rules (`read_leaf`) of chunks of lines, in order.

    At most a few chunks per worker are in flight, so memory stays flat; results are read in
    line order, so the first failure they report is the earliest.
    """

    def __init__(self, jobs: int) -> None:
        self.enabled = jobs > 1
        self.jobs = jobs
        self.pool: multiprocessing.pool.Pool | None = None
        self.in_flight: collections.deque[multiprocessing.pool.AsyncResult[Any]] = (
            collections.deque()
        )
        self.chunk: list[bytes] = []
        self.chunk_start = 1
        self.failure: AuditFailure | None = None

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()

    def add(self, line: int, raw: bytes) -> None:
        """Queue line `line` (1-based, in order) for checking; raise a worker's failure."""
        if not self.chunk:
            self.chunk_start = line
        self.chunk.append(raw)
        if len(self.chunk) >= _CHUNK:
            self._submit()
            while len(self.in_flight) > 2 * self.jobs:
                self._collect()
            if self.failure is not None:
                raise _Failed(self.failure)

    def _submit(self) -> None:
        if self.pool is None:
            self.pool = multiprocessing.get_context().Pool(
                self.jobs, initializer=exit_with_parent, initargs=(os.getpid(),)
            )
        if self.chunk:
            self.in_flight.append(
                self.pool.apply_async(_check_chunk, ((self.chunk_start, self.chunk),))
            )
            self.chunk = []

    def _collect(self) -> None:
        found = self.in_flight.popleft().get()
        if found is not None and self.failure is None:
            line, check, message = found
            self.failure = AuditFailure(file=LEAVES, line=line, check=check, message=message)

    def first_failure(self, upto: int | None = None) -> AuditFailure | None:
        """Wait for every line queued so far; the first failure at or before line `upto`."""
        if not self.enabled:
            return None
        if self.chunk:
            self._submit()
        while self.in_flight and self.failure is None:
            self._collect()
        failure = self.failure
        if failure is None or (upto is not None and (failure.line or 0) > upto):
            return None
        return failure


class _Auditor:
    def __init__(
        self, path: Path, since: Path | None, progress: Progress | None, workers: _Workers
    ) -> None:
        self.path = path
        self.workers = workers
        self.since_path = since
        self.progress = progress
        self.verifier: cp.Verifier | None = None
        self.vkey_text = ""
        self.network = ""
        self.origin = ""
        self.checkpoint: cp.Checkpoint | None = None
        self.since: cp.Checkpoint | None = None
        self.state = valuation.new_state()
        self.size = 0  # leaves checked so far
        self.tree = TreeBuilder()
        self.root = ""
        self.state_root = ""

    def report(self, failure: AuditFailure | None, seconds: float) -> AuditReport:
        return AuditReport(
            ok=failure is None,
            entries=self.size,
            members=self.state.member_count,
            contributions=self.state.contribution_count,
            network=self.network,
            origin=self.origin,
            root=self.root,
            state_root=self.state_root,
            since=None if self.since is None else self.since.size,
            seconds=round(seconds, 3),
            failure=failure,
        )

    # --- files ------------------------------------------------------------------------------

    def run(self) -> None:
        if not self.path.is_dir():
            what = "does not exist" if not self.path.exists() else "is not a directory"
            raise _fail(str(self.path), "file", f"the bundle directory {what}")
        missing = [name for name in BUNDLE_FILES if not (self.path / name).is_file()]
        if missing:
            raise _fail(
                missing[0],
                "file",
                f"the bundle has no {missing[0]} (a bundle holds {', '.join(BUNDLE_FILES)})",
            )
        self.vkey_text = self._read_text(self.path / LOG_VKEY, LOG_VKEY).removesuffix("\n")
        try:
            self.verifier = cp.parse_verifier_key(self.vkey_text)
        except LedgerError as exc:
            raise _fail(LOG_VKEY, "file", f"not a verifier key: {exc}") from None
        self.origin = self.verifier.name
        self._leaves()
        self._final_root()
        self._state_records()

    def _read_text(self, file: Path, name: str) -> str:
        try:
            return file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise _fail(name, "file", "is not UTF-8 text") from None
        except OSError as exc:
            raise _fail(name, "file", f"cannot be read: {exc.strerror or exc}") from None

    def _open_checkpoints(self) -> None:
        """Open the bundle's checkpoint, and the --since one, with the log key of log.vkey."""
        assert self.verifier is not None
        note = self._read_text(self.path / CHECKPOINT, CHECKPOINT)
        self.checkpoint = self._open(note, CHECKPOINT, "checkpoint")
        if self.since_path is None:
            return
        label = str(self.since_path)
        if not self.since_path.is_file():
            raise _fail(label, "since", "the --since checkpoint file does not exist")
        since = self._open(self._read_text(self.since_path, label), label, "since")
        if since.size > self.checkpoint.size:
            raise _fail(
                label,
                "since",
                f"is of tree size {since.size}, newer than the bundle's {self.checkpoint.size}: "
                "give the older checkpoint to --since",
            )
        self.since = since
        if since.size == 0:
            self._compare_since(merkle.EMPTY_ROOT)

    def _open(self, note: str, label: str, check: str) -> cp.Checkpoint:
        assert self.verifier is not None
        try:
            checkpoint = cp.open_checkpoint(note, self.verifier)
        except SignatureError as exc:
            raise _fail(
                label, check, f"is not signed by the log key in {LOG_VKEY}: {exc}"
            ) from None
        except LedgerError as exc:
            raise _fail(label, check, f"is not a valid checkpoint: {exc}") from None
        if checkpoint.origin != self.origin:
            raise _fail(
                label,
                check,
                f"is for origin {checkpoint.origin!r}, but this log is {self.origin!r}",
            )
        return checkpoint

    # --- the leaves --------------------------------------------------------------------------

    def _lines(self) -> Iterator[bytes]:
        """The lines of leaves.jsonl without their newline, read in binary, one at a time."""
        file = self.path / LEAVES
        try:
            total = file.stat().st_size
            handle = file.open("rb")
        except OSError as exc:
            raise _fail(LEAVES, "file", f"cannot be read: {exc.strerror or exc}") from None
        done = 0
        number = 0
        if self.progress is not None:
            self.progress(0, total)
        with handle:
            while True:
                try:
                    line = handle.readline(MAX_LINE + 1)
                except OSError as exc:
                    raise _fail(LEAVES, "file", f"cannot be read: {exc.strerror or exc}") from None
                if not line:
                    break
                number += 1
                done += len(line)
                if not line.endswith(b"\n"):
                    if len(line) > MAX_LINE:
                        raise _fail(
                            LEAVES, "leaf", f"the line is longer than {MAX_LINE} bytes", number
                        )
                    raise _fail(
                        LEAVES,
                        "leaf",
                        "the last line has no newline: the file is truncated",
                        number,
                    )
                yield line[:-1]
                if self.progress is not None and number % _PROGRESS_EVERY == 0:
                    self.progress(done, total)
        if self.progress is not None:
            self.progress(done, total)

    def _leaves(self) -> None:
        try:
            self.state = valuation.replay(self._events())
        except valuation.ValuationError as exc:
            raise _fail(
                LEAVES, "valuation", f"valuation refuses the entry: {exc}", self.size + 1
            ) from None
        if self.size == 0:
            raise _fail(LEAVES, "leaf", "the file is empty: a log starts with its network.genesis")
        # Every line's own checks must have passed before the root and state.jsonl are judged.
        failure = self.workers.first_failure()
        if failure is not None:
            raise _Failed(failure)

    def _events(self) -> Iterator[valuation.Event]:
        """Check each line in log order and hand its event to valuation; on return from the
        `yield`, valuation has accepted it."""
        seqs: dict[str, int] = {}
        floor: datetime | None = None
        network: rules.Network | None = None
        parallel = self.workers.enabled
        for raw in self._lines():
            line = self.size + 1
            try:
                if parallel and line > 1:
                    # The workers check bytes, shape and signature; this process only reads.
                    self.workers.add(line, raw)
                    leaf = read_leaf_unchecked(raw)
                else:
                    leaf = read_leaf(raw)
            except SignatureError as exc:
                raise _fail(LEAVES, "signature", str(exc), line) from None
            except LedgerError as exc:
                raise _fail(LEAVES, "leaf", str(exc), line) from None
            entry = leaf.entry
            if line == 1:
                self._genesis(entry)
            try:
                network = rules.check_entry(entry, network, seqs.get(entry.author, 0))
                rules.check_logged_at(leaf.logged_at, leaf.moment, floor)
            except LogRuleError as exc:
                raise _fail(LEAVES, exc.rule, str(exc), line) from None
            if line == 1:
                self.network = network.name
                self._open_checkpoints()
            seqs[entry.author] = entry.seq
            floor = leaf.moment
            yield entries.event_of(entry, line - 1, leaf.logged_at)
            self.tree.add(raw)
            self.size = line
            if self.since is not None and line == self.since.size:
                self._compare_since(self.tree.root())
            if self.checkpoint is not None and line > self.checkpoint.size:
                raise _fail(
                    LEAVES,
                    "root",
                    f"the checkpoint is of tree size {self.checkpoint.size}, but the file goes "
                    "on: a line was inserted or the checkpoint is stale",
                    line,
                )

    def _genesis(self, entry: entries.Entry) -> None:
        """The genesis of the bundle's own log: the one whose key `log.vkey` holds."""
        if entry.kind == rules.GENESIS and entry.body["log_key"] != self.vkey_text:
            raise _fail(
                LEAVES,
                "genesis",
                f"the genesis names the log key {entry.body['log_key']!r}, but {LOG_VKEY} holds "
                f"{self.vkey_text!r}: the bundle mixes two logs",
                1,
            )

    def _compare_since(self, root: bytes) -> None:
        assert self.since is not None
        if root != self.since.root_hash:
            raise _fail(
                str(self.since_path),
                "consistency",
                f"the first {self.since.size} leaves have root {root.hex()}, but this checkpoint "
                f"says {self.since.root_hash.hex()}: the bundle does not extend it (the log was "
                "rewritten or forked)",
            )

    def _final_root(self) -> None:
        assert self.checkpoint is not None
        root = self.tree.root()
        self.root = root.hex()
        if self.size != self.checkpoint.size:
            raise _fail(
                CHECKPOINT,
                "root",
                f"is of tree size {self.checkpoint.size}, but {LEAVES} holds {self.size} leaves: "
                "lines were dropped or the checkpoint is of another log",
            )
        if root != self.checkpoint.root_hash:
            raise _fail(
                CHECKPOINT,
                "root",
                f"signs root {self.checkpoint.root_hash.hex()}, but the {self.size} leaves have "
                f"root {root.hex()}: a leaf was changed, dropped, inserted or reordered",
            )

    # --- state.jsonl --------------------------------------------------------------------------

    def _state_records(self) -> None:
        records = sorted_records(self.state)
        self.state_root = statemap.StateMap.of(records).root.hex()
        try:
            with (self.path / STATE).open("rb") as handle:
                for number, (key, line) in enumerate(state_lines(records), start=1):
                    found = handle.readline(MAX_LINE + 1)
                    if found != line:
                        raise _fail(STATE, "state", _record_difference(found, key, line), number)
                extra = handle.readline(MAX_LINE + 1)
                if extra:
                    raise _fail(
                        STATE,
                        "state",
                        f"{_record_key(extra)} is not a record of the replayed state",
                        len(records) + 1,
                    )
        except OSError as exc:
            raise _fail(STATE, "file", f"cannot be read: {exc.strerror or exc}") from None
        assert self.checkpoint is not None
        signed = self.checkpoint.state_root
        if signed is not None and signed.hex() != self.state_root:
            raise _fail(
                CHECKPOINT,
                "state",
                f"signs state root {signed.hex()}, but the replayed records fold to "
                f"{self.state_root}",
            )


Record = tuple[str, Any]


def sorted_records(state: valuation.State) -> list[Record]:
    """Every record of the state map of `state`, sorted by key (the order of state.jsonl)."""
    return sorted(valuation.iter_records(state), key=_record_sort_key)


def _record_sort_key(record: Record) -> str:
    return record[0]


def state_lines(records: list[Record]) -> Iterator[tuple[str, bytes]]:
    """Each record's line of state.jsonl: the RFC 8785 form of `{"key", "value"}` and "\n"."""
    for key, value in records:
        yield key, jcs.canonical({"key": key, "value": value}) + b"\n"


def _record_key(line: bytes) -> str:
    try:
        record = json.loads(line)
        return repr(record["key"]) if isinstance(record, dict) else "the line"
    except (ValueError, KeyError, UnicodeDecodeError):
        return "the line"


def _record_difference(found: bytes, key: str, expected: bytes) -> str:
    """Why a line of state.jsonl is not the replay's record `key`."""
    if not found:
        return f"the file ends here, but the replay has the record {key!r}"
    try:
        published = json.loads(found)
    except (ValueError, UnicodeDecodeError) as exc:
        return f"is not a JSON line: {exc}"
    if not isinstance(published, dict) or set(published) != {"key", "value"}:
        return 'is not a record: each line is {"key", "value"}'
    replayed = json.loads(expected)["value"]
    if published["key"] != key:
        if isinstance(published["key"], str) and published["key"] > key:
            return f"the record {key!r} is missing, replay gives {_show(replayed)}"
        return f"{_show(published['key'])} is not a record of the replayed state (or out of order)"
    difference = _first_difference(published["value"], replayed, key)
    if difference is not None:
        return difference
    return f"the record {key!r} is not written in RFC 8785 form"


def _same_bytes(chunks: Iterator[bytes], handle: BinaryIO) -> bool:
    """Whether the file holds exactly the chunks, and at most one newline after them."""
    for chunk in chunks:
        if handle.read(len(chunk)) != chunk:
            return False
    return handle.read(2) in (b"", b"\n")


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 70 else text[:70] + "…"


def _difference(path: str, published: Any, replayed: Any) -> str:
    if published is None:
        return f"{path} is missing, replay gives {_show(replayed)}"
    if type(published) is not type(replayed) and replayed is not None:
        return f"{path} is {json.dumps(published)[:70]}, replay gives {json.dumps(replayed)[:70]}"
    return f"{path} is {_show(published)}, replay gives {_show(replayed)}"


def _step(path: str, key: str) -> str:
    name = short(key) if len(key) == 64 else key
    return f"{path}.{name}" if path else name


def _first_difference(published: Any, replayed: Any, path: str) -> str | None:
    """The first path, in the replay's order, where the published JSON differs from it."""
    if isinstance(replayed, dict) and isinstance(published, dict):
        for key, value in replayed.items():
            if key not in published:
                return f"{_step(path, key)} is missing, replay gives {_show(value)}"
            found = _first_difference(published[key], value, _step(path, key))
            if found is not None:
                return found
        for key in published:
            if key not in replayed:
                return f"{_step(path, key)} is not in the replay (an extra member or field)"
        return None
    if isinstance(replayed, list) and isinstance(published, list):
        for i, (mine, theirs) in enumerate(zip(published, replayed, strict=False)):
            found = _first_difference(mine, theirs, f"{path}[{i}]")
            if found is not None:
                return found
        if len(published) != len(replayed):
            return f"{path} has {len(published)} items, replay gives {len(replayed)}"
        return None
    if published != replayed or type(published) is not type(replayed):
        return _difference(path or "the document", published, replayed)
    return None

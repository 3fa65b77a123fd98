"""Which tables and indexes an append writes, on SQLite: the pages a batch puts in the WAL.

    python bench/walpages.py PATH [--batches 2]

Appends `--batches` batches of 1,000 entries to the SQLite log at PATH, in-process (new keys
that join, post an article and evaluate the newest ones, as `bench.appends` times), then reads
the frames they wrote to the write-ahead log and names the table or index of each page
(SQLite's `dbstat`). The log grows by what is appended, as it does under `bench.appends`.

At 10^6 entries, a random key (an entry id, a member's key, a contribution id) puts almost
every row an append writes on a page of its own: this shows which indexes that costs, and so
where keys in log order would pay. Nothing is timed.
"""

from __future__ import annotations

import argparse
import sqlite3
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event

from bench.appends import Signer, newcomers
from ledger import reads
from ledger.db import make_engine, read_session
from ledger.keys import read_key
from ledger.service import Ledger

_WAL_HEADER = 32
_FRAME_HEADER = 24


def wal_pages(wal: Path) -> list[int]:
    """The page number of each valid frame of a WAL file, in order (frames whose salts are
    those of the header: the WAL's current generation)."""
    data = wal.read_bytes()
    if len(data) < _WAL_HEADER:
        return []
    _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", data[:_WAL_HEADER])
    pages = []
    offset = _WAL_HEADER
    while offset + _FRAME_HEADER + page_size <= len(data):
        page, _, frame_salt1, frame_salt2 = struct.unpack(">4I", data[offset : offset + 16])
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break
        pages.append(page)
        offset += _FRAME_HEADER + page_size
    return pages


def page_owners(path: Path) -> dict[int, str]:
    """Each page of the database: the table or index it belongs to."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        try:
            rows = connection.execute("SELECT pageno, name FROM dbstat").fetchall()
        except sqlite3.OperationalError as exc:
            raise SystemExit(f"this SQLite has no dbstat table ({exc})") from None
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="a SQLite log, with its log.key beside it")
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    path: Path = args.path.resolve()
    if not path.exists():
        raise SystemExit(f"{path}: no such log (build one with python -m bench.appends --keep)")
    engine = make_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _no_checkpoint(dbapi_connection: Any, _record: Any) -> None:
        # The WAL must keep every frame the batches write, until they are counted.
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    ledger = Ledger(engine, read_key(path.parent / "log.key"))
    try:
        with read_session(engine) as session:
            network = reads.network(session)
        if network is None:
            raise SystemExit(f"{path}: the log is empty")
        started = time.perf_counter()
        size = ledger.replayed_state().tree_size
        print(f"a log of {size:,} entries, replayed in {time.perf_counter() - started:.0f} s")
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        signer = Signer(network.name)
        for batch in range(args.batches):
            ledger.append(newcomers(signer, 1000, f"walpages {time.time_ns()} {batch}"))
        pages = wal_pages(Path(f"{path}-wal"))
    finally:
        ledger.signatures.stop()
        engine.dispose()
    owners = page_owners(path)
    frames = Counter(owners.get(page, "(a page freed since)") for page in pages)
    per_batch = len(pages) / args.batches
    print(
        f"{args.batches} batches of 1,000 wrote {len(pages):,} pages to the WAL "
        f"({per_batch:,.0f} a batch, {per_batch * 4096 / 2**20:.1f} MiB at 4 KiB), "
        f"{len(set(pages)):,} of them distinct"
    )
    print(f"{'pages a batch':>14} {'share':>6}  table or index")
    for name, count in frames.most_common():
        print(f"{count / args.batches:14,.0f} {count / len(pages):6.1%}  {name}")


if __name__ == "__main__":
    main()

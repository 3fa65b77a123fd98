#!/bin/bash
# Every figure of docs/operating/benchmarks.md, one benchmark after the other, with a probe of
# the machine's speed (a Python loop's CPU time, a 4 KiB fdatasync) before, midway and after.
# Run it alone on the machine, from the repository's root:
#
#     bench/all.sh DIR [POSTGRESQL_URL]
#
# DIR keeps the 10^6-entry log (m1.db, built on the first run: about 10 minutes) and the
# 10^6-leaf bundle (wb/) between runs. The writers run against POSTGRESQL_URL (default: the
# database `test` at 127.0.0.1:5432), whose schema is dropped.
set -euo pipefail
DIR=${1:?give a directory for the 10^6-entry log and bundle}
PG=${2:-postgresql+psycopg://postgres@127.0.0.1:5432/test}
PY=${PYTHON:-python}
mkdir -p "$DIR"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

probe() {
    "$PY" - "$WORK/probe" <<'END'
import os, sys, time
started = time.process_time()
total = 0
for i in range(3_000_000):
    total += i
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT)
syncs = []
for _ in range(100):
    os.pwrite(fd, b"x" * 4096, 0)
    t = time.perf_counter()
    os.fdatasync(fd)
    syncs.append(time.perf_counter() - t)
syncs.sort()
print(f"probe: a 3-million-addition loop {time.process_time() - started:.3f} s of CPU, "
      f"a 4 KiB fdatasync p50 {syncs[50] * 1000:.3f} ms")
END
}

echo "== $(date -u +%H:%M) probe"; probe
echo "== a 10^3-entry log"
"$PY" -m bench.appends --entries 1000 --keep "$WORK/b3/b.db" --singles 2000 --batches 5 --proofs 1000
echo "== a 10^4-entry log"
"$PY" -m bench.appends --entries 10000 --keep "$WORK/b4/b.db" --singles 2000 --batches 10 --proofs 1000
echo "== a 10^4-entry log under backfeed/1"
"$PY" -m bench.appends --entries 10000 --keep "$WORK/b4a/b.db" --algorithm backfeed/1 \
    --singles 500 --batches 10 --proofs 200
echo "== $(date -u +%H:%M) a 10^6-entry log"
"$PY" -m bench.appends --entries 1000000 --keep "$DIR/m1.db" --singles 2000 --batches 10 --proofs 1000
echo "== $(date -u +%H:%M) probe"; probe
echo "== 8 writers, serve --workers 4, PostgreSQL (twice)"
for _ in 1 2; do "$PY" -m bench.appends writers --db "$PG"; done
echo "== $(date -u +%H:%M) backfeed/2"
"$PY" bench/backfeed2.py evaluators
"$PY" bench/backfeed2.py replay --events 1000000
echo "== $(date -u +%H:%M) whatif, backfeed/1 -> backfeed/2"
"$PY" bench/whatif.py --leaves 1000000 --dir "$DIR/wb" --algorithm backfeed/2
echo "== $(date -u +%H:%M) probe"; probe

#!/usr/bin/env bash
# Benchmark (not a test): imports N generated numbers (default 100000) with
# `admin import-numbers` into a fresh SQLite database, using a release build,
# and prints the wall time. The target is under 10 s for 100,000 rows.
#
#   scripts/bench-import.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-100000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Every column, with a quoted alias holding a comma and an escaped quote, so
# the CSV reader does its full work.
python3 - "$rows" "$work/numbers.csv" <<'PY'
import sys
rows, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("number,operator_id,alias,monthly_price,yearly_price\n")
    for i in range(rows):
        f.write(f'+6149{i:07d},{i % 7},"Line {i}, ""bench""",1500,15000\n')
PY

cargo build --release --quiet
echo "importing $rows rows ($(du -h "$work/numbers.csv" | cut -f1)) into a fresh database" >&2
TIMEFORMAT="import-numbers: %R s wall (%U s user, %S s system)"
time target/release/linekeeper admin import-numbers "$work/numbers.csv" \
    --database-url "sqlite://$work/bench.db"

#!/bin/bash
# LINEKEEPER_BENCH_BASELINE wrapper: copies the bench world's SQLite database, then runs the baseline.
url=""
prev=""
for a in "$@"; do [ "$prev" = "--database-url" ] && url="$a"; prev="$a"; done
path="${url#sqlite://}"; path="${path%%\?*}"
if [ ! -f ${WORLD:?} ] && [ -f "$path" ]; then
  sqlite3 "$path" "pragma wal_checkpoint(TRUNCATE);" >/dev/null 2>&1
  sqlite3 "$path" ".backup ${WORLD:?}"
fi
exec "${BASE:?set BASE to the baseline binary}" "$@"

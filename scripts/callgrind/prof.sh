#!/bin/bash
# prof.sh BIN KEYFILE PATH N OUT: total instructions of BIN serving N GETs of PATH (callgrind, whole process).
set -e
bin=$1; key=$(cat $2); path=$3; n=$4; out=$5
db=/tmp/prof-$$.db
cp ${WORLD:?set WORLD to a copy of a bench world database} $db
port=$((20000 + RANDOM % 20000))
LINEKEEPER_LOG=warn LINEKEEPER_SWEEP_INTERVAL_SECS=0 LINEKEEPER_WEBHOOK_DISPATCH=false \
LINEKEEPER_RATE_LIMIT_PER_SEC=10000000 LINEKEEPER_RATE_LIMIT_BURST=10000000 \
valgrind --tool=callgrind --callgrind-out-file=$out $bin serve --listen 127.0.0.1:$port --database-url sqlite://$db > /tmp/prof-$$.log 2>&1 &
pid=$!
for i in $(seq 1 600); do curl -s -o /dev/null http://127.0.0.1:$port/readyz && break; sleep 0.2; done
cfg=/tmp/prof-$$.curl
printf 'header = "Authorization: Bearer %s"\n' "$key" > $cfg
for i in $(seq 1 $n); do printf 'url = "http://127.0.0.1:%s%s"\noutput = /dev/null\n' $port "$path" >> $cfg; done
curl -s -K $cfg
kill -TERM $pid; wait $pid || true
rm -f $db $db-wal $db-shm $cfg
callgrind_annotate $out 2>/dev/null | grep -m1 'PROGRAM TOTALS'

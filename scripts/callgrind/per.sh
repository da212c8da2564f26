#!/bin/bash
# per.sh BIN KEYFILE PATH TAG: instructions per request = (run of 1050 - run of 50)/1000.
a=$($(dirname "$0")/prof.sh $1 $2 "$3" 50 ${OUT:-/tmp}/$4-50.out | awk '{gsub(",","",$1); print $1}')
b=$($(dirname "$0")/prof.sh $1 $2 "$3" 1050 ${OUT:-/tmp}/$4-1050.out | awk '{gsub(",","",$1); print $1}')
echo "$4 $3: $(( (b - a) / 1000 )) instructions a request"

#!/bin/bash
# diff.sh A.out B.out [N]: per-function self-cost difference B - A, per 1000 requests when both are 1050-runs of different paths.
python3 - "$1" "$2" "${3:-40}" <<'PY'
import subprocess,sys,re
def load(f):
    out=subprocess.run(['callgrind_annotate','--threshold=100',f],capture_output=True,text=True).stdout
    d={}
    for line in out.splitlines():
        m=re.match(r'\s*([\d,]+) \([^)]*\)\s+(.*)',line)
        if m and 'PROGRAM TOTALS' not in line:
            d[m.group(2)]=d.get(m.group(2),0)+int(m.group(1).replace(',',''))
    return d
a=load(sys.argv[1]); b=load(sys.argv[2])
keys=set(a)|set(b)
rows=sorted(((b.get(k,0)-a.get(k,0),k) for k in keys),reverse=True)
for v,k in rows[:int(sys.argv[3])]:
    print(f"{v/1000:>10.0f}  {k[:140]}")
PY

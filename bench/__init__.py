"""Benchmarks of the sync server: `python -m bench` (see docs/benchmarks.md).

Sections (each measures against a baseline taken in the same run, never against a fixed number):

push     push apply throughput: full HTTP path vs engine only vs raw SQLite executemany
storm    500 phones reconnecting at once; exactly-once verified on the SQLite file afterwards
initial  a new phone's initial pull of 100k records: time, bytes (gzip or not), server RSS
growth   push and pull latency as the database grows from 10k to 1M records
pwa      app shell weight, requests on first load, time to usable after an offline reload
link     the phone on a bad link: reachability change → status bar, a drop mid-photo, 2G inspection
http     the same pushes and storm behind each HTTP stack (h11 + access log, h11, httptools + uvloop,
         granian)
core     engine + SQLite per mutation on the mypyc-compiled sync/ and on pure Python
"""

from server import sync_core

# A sync/*.py edited since it was compiled: measure the code as it is (pure Python), not the old build.
sync_core.never_stale()

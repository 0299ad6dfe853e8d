"""The test suite. Imported before any test module or conftest: it chooses which build of sync/ the
run tests (server/sync_core.py), before anything imports sync.

- the compiled core, where setup.py built it and it is up to date with the sources;
- pure Python with TIGAPILAR_PURE_PYTHON=1 (the test command's second run of tests/sync), or when a
  sync/*.py changed after it was compiled: then the tests would otherwise run the old code. The
  variable is set for the whole run, so the servers the tests start run the same build.
  `scripts/build-core` compiles again.
"""

from server import sync_core

sync_core.never_stale()

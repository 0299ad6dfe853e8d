"""The test suite. Imported before any test module or conftest: it chooses which build of sync/ the
run tests (server/sync_core.py), before anything imports sync.

- the compiled core, where setup.py built it and it is up to date with the sources;
- pure Python with TIGAPILAR_PURE_PYTHON=1 (the test command's second run of tests/sync), or when a
  sync/*.py changed after it was compiled: then the tests would otherwise run the old code. The
  variable is set for the whole run, so the servers the tests start run the same build.
  `scripts/build-core` compiles again.
"""

import os
import sys

from server import sync_core

_stale = sync_core.stale_modules() if os.environ.get(sync_core.PURE_ENV) != "1" else []
if _stale:
    print(
        f"note: sync/ changed since it was compiled ({', '.join(_stale[:3])}): testing it as pure"
        " Python; scripts/build-core compiles it again",
        file=sys.stderr,
    )
    os.environ[sync_core.PURE_ENV] = "1"
    sync_core.use_pure_python()

"""Tiga Pilar server: HTTP API, storage backends, accounts and the command line."""

from server.sync_core import use_pure_python_if_asked

# TIGAPILAR_PURE_PYTHON=1: this process runs sync/ from its sources, not its compiled build
# (server/sync_core.py). Before anything of the server imports sync.
use_pure_python_if_asked()

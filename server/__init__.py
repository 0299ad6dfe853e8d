"""Tiga Pilar server: HTTP API, storage backends, accounts and the command line."""

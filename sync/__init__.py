"""The pure core of the Tiga Pilar sync protocol: wire format, merge rules, clocks and the engine.

Nothing here knows about HTTP or SQL; backends implement sync.store.SyncStore.
"""

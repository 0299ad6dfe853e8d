-- Tiga Pilar schema, version 2: failed-login throttling kept in the database, so every server
-- process on one database shares it and a restart does not lift a lockout (server/auth.py,
-- LoginThrottle). One row per throttled key ("user:<lowercased username>" or "addr:<address>").
-- Times are wall-clock epoch seconds (shared between processes and across restarts, which a
-- monotonic clock cannot be). Rows are transient: pruned as they go quiet, and not copied by
-- server/storage/copy.py.

CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,   -- failures in the current window (0 after a lockout)
    window_start  REAL NOT NULL,      -- first failure of the current window
    last_failure  REAL NOT NULL,      -- the latest failure (pruning forgets the quietest keys)
    locked_until  REAL NOT NULL,      -- no attempt before this time (0: never locked)
    lockouts      INTEGER NOT NULL    -- lockouts so far: the next one lasts lockout_s * 2**lockouts
);
-- Pruning deletes the keys that have been quiet longest.
CREATE INDEX login_failures_last_failure ON login_failures (last_failure);

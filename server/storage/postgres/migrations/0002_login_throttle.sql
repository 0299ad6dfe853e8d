-- Tiga Pilar schema, version 2 (PostgreSQL): failed-login throttling kept in the database, so every
-- server process on one database shares it and a restart does not lift a lockout (server/auth.py,
-- LoginThrottle). Kept in step with server/storage/sqlite/migrations/0002_login_throttle.sql.
-- Times are wall-clock epoch seconds (shared between processes and across restarts, which a
-- monotonic clock cannot be). Rows are transient: pruned as they go quiet, and not copied by
-- server/storage/copy.py.

CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,            -- failures in the current window (0 after a lockout)
    window_start  DOUBLE PRECISION NOT NULL,  -- first failure of the current window
    last_failure  DOUBLE PRECISION NOT NULL,  -- the latest failure (pruning forgets the quietest keys)
    locked_until  DOUBLE PRECISION NOT NULL,  -- no attempt before this time (0: never locked)
    lockouts      BIGINT NOT NULL             -- lockouts so far: the next lasts lockout_s * 2**lockouts
);
-- Pruning deletes the keys that have been quiet longest.
CREATE INDEX login_failures_last_failure ON login_failures (last_failure);

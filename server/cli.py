"""The `tigapilar` command.

    tigapilar serve [--host H] [--port P] [--cert F --key F]   run the server (migrates first)
    tigapilar migrate                                          create/upgrade the database
    tigapilar seed-demo                                        demo data, into a new database only
    tigapilar user add|passwd|disable|enable|assign|list       accounts
    tigapilar backup PATH                                      online copy of the SQLite database
    tigapilar restore BACKUP [--force]                         put a backup in place (server stopped)
    tigapilar purge-tombstones --older-than DAYS --yes         the only deletion; audited
    tigapilar copy-to-postgres SQLITE_URL POSTGRES_URL         move a SQLite database into PostgreSQL
    tigapilar audit verify [--head ID HASH] [--checkpoints F]  check every chain of the tamper-evident log
    tigapilar audit keygen|checkpoint                          signed checkpoints of the root over chains
    tigapilar audit prove --warehouse W --head ID HASH ...     inclusion proof of a berita acara's head
    tigapilar webhook add|list|remove|dead|replay              alert webhooks (docs/alerts.md)
    tigapilar push keygen                                      the VAPID key pair of Web Push

Every command takes --database URL (else $TIGAPILAR_DATABASE, else sqlite:///data/tigapilar.db):
sqlite:///path/file.db or postgresql://user:password@host:5432/dbname (docs/postgres.md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import getpass
import os
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from server.auth import Passwords, audit_entry, check_password_strength
from server.config import Config, database_from_env, default_static_dir, missing_static_files
from server.connections import HEADER_TIMEOUT_S, LOOPS, MAX_CONNECTIONS, PARSERS
from server.models import ROLES, UserInput
from server.storage import Conflict, Storage, StorageError, open_storage, sqlite_path
from sync.alerts import EVENTS as ALERT_EVENTS
from sync.domain import AGENCIES

KEEP_ALIVE_S = 75
"""Seconds an idle HTTP connection stays open. Longer than a reverse proxy's idle upstream
connections (nginx 60 s) and HTTP clients' pools (httpx 5 s): otherwise the server may close a
connection just as the other side sends a request on it, and that request fails with a read error
(seen in the reconnect-storm benchmark at uvicorn's default of 5 s)."""


GRACEFUL_SHUTDOWN_S = 10
"""On SIGTERM, requests in flight get this long to finish; open live streams are then closed."""


class CliError(Exception):
    """A user-facing failure: printed as `error: ...`, exit status 1."""


def cli_actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


async def _with_storage(
    args: argparse.Namespace, action: Callable[[Storage], Awaitable[int]], *, create: bool
) -> int:
    storage = open_storage(database_from_env(args.database))
    await storage.open(create=create)
    try:
        return await action(storage)
    finally:
        await storage.close()


def _run(
    args: argparse.Namespace, action: Callable[[Storage], Awaitable[int]], *, create: bool = False
) -> int:
    return asyncio.run(_with_storage(args, action, create=create))


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise CliError("no terminal to ask for the password: use --password-stdin")
        password = getpass.getpass("Kata sandi baru: ")
        if getpass.getpass("Ulangi kata sandi: ") != password:
            raise CliError("passwords do not match")
    problem = check_password_strength(password)
    if problem:
        raise CliError(problem)
    return password


def _passwords() -> Passwords:
    return Passwords.from_config(Config())


def alert_timing_from_env() -> dict[str, Any]:
    """Timing of alerts from TIGAPILAR_ALERT_RETRY_FIRST_S, _MAX_S, _WINDOW_S and
    TIGAPILAR_ALERT_ROUND_GAP_S (docs/alerts.md)."""
    found: dict[str, Any] = {}
    for name in ("retry_first", "retry_max", "retry_window", "round_gap"):
        variable = f"TIGAPILAR_ALERT_{name.upper()}_S"
        value = os.environ.get(variable)
        if value:
            try:
                found[f"alert_{name}_s"] = float(value)
            except ValueError as exc:
                raise CliError(f"{variable}: not a number: {value!r}") from exc
    return found


def _retention_days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r}") from None
    if days != 0 and days < 1:
        raise argparse.ArgumentTypeError("at least 1 day (dead letters must stay to be seen), or 0")
    return days


# -- commands --------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import create_app
    from server.connections import MissingHttpExtra, http_stack
    from server.seed import install_reference_data

    database = database_from_env(args.database)
    if bool(args.cert) != bool(args.key):
        raise CliError("--cert and --key go together")

    async def prepare(storage: Storage) -> int:
        from server.seed.demo import DEMO_MARK, DEMO_PASSWORD

        await install_reference_data(storage)
        if await storage.database_mark(DEMO_MARK) is not None:
            print(f"WARNING: this is a demo database (tigapilar seed-demo): its accounts have the public"
                  f" password {DEMO_PASSWORD!r}. Never use it for real inspections.", flush=True)  # fmt: skip
        return 0

    static_dir: Path | None = None
    if not args.no_static:
        static_dir = Path(args.static_dir) if args.static_dir else default_static_dir()
        missing = missing_static_files(static_dir)
    if static_dir is not None and missing:
        # Without them the server would answer the API but show officers and supervisors nothing.
        raise CliError(
            f"the web app is not in {static_dir} (missing: {', '.join(missing)}); "
            "reinstall the package, pass --static-dir, or --no-static for the API alone"
        )
    try:
        protocol, loop, stack = http_stack(
            args.http, args.loop, header_timeout_s=args.header_timeout, max_connections=args.max_connections
        )
    except MissingHttpExtra as exc:
        raise CliError(str(exc)) from None
    _run(args, prepare, create=True)
    config = Config(
        database=database,
        static_dir=static_dir,
        api_docs=args.api_docs,
        debug=args.debug,
        alerts=not args.no_alerts,
        public_url=args.public_url,
        vapid_key=Path(args.vapid_key) if args.vapid_key else None,
        vapid_subject=os.environ.get("TIGAPILAR_VAPID_SUBJECT") or Config.vapid_subject,
        push_allow_private=os.environ.get("TIGAPILAR_PUSH_ALLOW_PRIVATE") == "1",
        alert_retention_days=args.alert_retention_days,
    )
    config = dataclasses.replace(config, **alert_timing_from_env())
    app = create_app(config)
    # Everything built so far (the app, its routes, imported modules) lives as long as the process:
    # move it out of the collector's reach, so the full collections a 1,000-mutation push triggers
    # no longer walk it each time (measured: GC time of a push run 0.31 s -> 0.08 s).
    gc.collect()
    gc.freeze()
    scheme = "https" if args.cert else "http"
    print(f"Tiga Pilar: {scheme}://{args.host}:{args.port}/  (database {database}; {stack})", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ssl_certfile=args.cert,
        ssl_keyfile=args.key,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_keep_alive=args.keep_alive,
        # A header timeout and a cap on open connections, which uvicorn alone lacks.
        http=protocol,
        loop=loop,
        # A log line per request: CPU on the event loop and a log that grows with every phone's
        # sync (docs/benchmarks.md, "HTTP path"). Off unless asked for; errors are logged anyway.
        access_log=args.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_level="debug" if args.debug else "info",
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.seed import install_reference_data

    async def action(storage: Storage) -> int:
        # open() has applied pending migrations already; report the resulting version.
        version = await storage.schema_version()
        added = await install_reference_data(storage)
        print(f"database at schema version {version}")
        for what in added:
            print(f"added {what}")
        return 0

    return _run(args, action, create=True)


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from server.seed.demo import NotADemoDatabase, seed_demo

    async def action(storage: Storage) -> int:
        try:
            result = await seed_demo(storage)
        except NotADemoDatabase as exc:
            raise CliError(str(exc)) from exc
        print(result.describe())
        return 0

    return _run(args, action, create=True)


async def _user_or_fail(storage: Storage, username: str) -> Any:
    found = await storage.user_by_username(username)
    if found is None:
        raise CliError(f"no user {username!r}")
    return found[0]


def cmd_user_add(args: argparse.Namespace) -> int:
    try:
        data = msgspec.convert(
            {
                "username": args.username,
                "full_name": args.full_name,
                "agency": args.agency,
                "role": args.role,
                "rank": args.rank or "",
                "id_number": args.id_number or "",
                "warehouses": args.warehouse or [],
            },
            UserInput,
        )
    except msgspec.ValidationError as exc:
        raise CliError(str(exc)) from exc
    password = _read_password(args)
    password_hash = _passwords().hash_sync(password)

    async def action(storage: Storage) -> int:
        user = await storage.create_user(str(uuid.uuid4()), data, password_hash)
        await storage.append_audit(
            audit_entry("user.created", actor_id=cli_actor(), subject=user.id, username=user.username,
                        role=user.role, agency=user.agency, warehouses=user.warehouses)
        )  # fmt: skip
        print(f"created {user.username} ({user.role}, {user.agency}) id={user.id}")
        return 0

    return _run(args, action)


def cmd_user_passwd(args: argparse.Namespace) -> int:
    password = _read_password(args)
    password_hash = _passwords().hash_sync(password)

    async def action(storage: Storage) -> int:
        from server.models import now_iso

        user = await _user_or_fail(storage, args.username)
        await storage.set_password(user.id, password_hash)
        revoked = 0 if args.keep_sessions else await storage.revoke_devices(user.id, now_iso())
        await storage.append_audit(
            audit_entry(
                "user.password_changed", actor_id=cli_actor(), subject=user.id, revoked_tokens=revoked
            )
        )
        print(f"password of {user.username} changed; {revoked} device token(s) revoked")
        return 0

    return _run(args, action)


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    async def action(storage: Storage) -> int:
        from server.models import now_iso

        user = await _user_or_fail(storage, args.username)
        await storage.set_disabled(user.id, disabled)
        revoked = await storage.revoke_devices(user.id, now_iso()) if disabled else 0
        kind = "user.disabled" if disabled else "user.enabled"
        await storage.append_audit(
            audit_entry(kind, actor_id=cli_actor(), subject=user.id, revoked_tokens=revoked)
        )
        print(
            f"{user.username} {'disabled' if disabled else 'enabled'}"
            + (f"; {revoked} token(s) revoked" if revoked else "")
        )
        return 0

    return _run(args, action)


def cmd_user_disable(args: argparse.Namespace) -> int:
    return _set_disabled(args, True)


def cmd_user_enable(args: argparse.Namespace) -> int:
    return _set_disabled(args, False)


def cmd_user_assign(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        user = await _user_or_fail(storage, args.username)
        await storage.assign(user.id, args.warehouses)
        await storage.append_audit(
            audit_entry("user.assigned", actor_id=cli_actor(), subject=user.id, warehouses=args.warehouses)
        )
        print(f"{user.username}: {', '.join(args.warehouses) or '(no warehouse)'}")
        return 0

    return _run(args, action)


def cmd_user_list(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        users = await storage.users()
        rows = [("USERNAME", "ROLE", "AGENCY", "RANK", "NAME", "WAREHOUSES", "STATUS")]
        rows += [
            (u.username, u.role, u.agency, u.rank, u.full_name, ",".join(u.warehouses) or "-",
             "disabled" if u.disabled else "active")
            for u in users
        ]  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
        return 0

    return _run(args, action)


def cmd_backup(args: argparse.Namespace) -> int:
    from server.storage.sqlite.storage import backup_file

    database = database_from_env(args.database)
    if not database.startswith("sqlite:"):
        raise CliError("backup copies a SQLite database; back PostgreSQL up with pg_dump (docs/postgres.md)")
    source = sqlite_path(database)
    if not source.exists():
        raise CliError(f"database not found: {source}")
    target = Path(args.path)
    backup_file(source, target)
    print(f"backup written to {target} ({target.stat().st_size} bytes)")
    print("note: photos are files under the data directory's attachments/; copy them too (e.g. rsync).")
    return 0


def cmd_copy_to_postgres(args: argparse.Namespace) -> int:
    from server.audit import verify_log
    from server.storage.copy import copy_sqlite_to_postgres

    async def run() -> int:
        report = await copy_sqlite_to_postgres(
            args.sqlite_url, args.postgres_url, data_dir=args.data_dir, log=print
        )
        print(report.describe())
        storage = open_storage(args.postgres_url, data_dir=args.data_dir)
        await storage.open(create=False)
        try:
            audit = await verify_log(storage)
        finally:
            await storage.close()
        if not audit.ok:
            print(f"audit log of the copy BROKEN at {audit.where()}: {audit.reason}")
            return 1
        print(f"audit log of the copy intact: {audit.count} entries")
        if report.source_changed:
            print("warning: the SQLite database changed during the copy (is its server still running?);"
                  " stop it and copy again into a fresh database")  # fmt: skip
            return 1
        if args.data_dir is None:
            print("note: copy attachments/ (next to the SQLite file) to the PostgreSQL servers' data"
                  " directory ($TIGAPILAR_DATA_DIR), or run again with --data-dir")  # fmt: skip
        return 0

    return asyncio.run(run())


def cmd_restore(args: argparse.Namespace) -> int:
    """Check the backup (integrity, audit chain) in a scratch copy, then copy it over the target
    with SQLite's backup API and record the restore in the restored audit log."""
    from server.audit import verify_log
    from server.auth import audit_entry
    from server.storage.sqlite import SqliteStorage
    from server.storage.sqlite.storage import backup_file, check_database, database_in_use, restore_file

    database = database_from_env(args.database)
    if not database.startswith("sqlite:"):
        raise CliError(
            "restore writes a SQLite database; restore PostgreSQL with pg_restore (docs/postgres.md)"
        )
    target, backup = sqlite_path(database), Path(args.backup)
    if not backup.is_file():
        raise CliError(f"backup not found: {backup}")
    if target.exists() and not args.force:
        raise CliError(f"{target} exists: pass --force to replace it with the backup")
    if database_in_use(target):
        raise CliError(f"{target} is in use: stop the server (and any other tigapilar command) first")
    check_database(backup)
    scratch = target.parent / f".{target.name}.restoring"
    for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
        leftover.unlink(missing_ok=True)
    backup_file(backup, scratch)

    async def checked() -> tuple[int, str]:
        storage = SqliteStorage(scratch)
        await storage.open(create=False)  # applies pending migrations to the scratch copy only
        try:
            report = await verify_log(storage)
            if not report.ok:
                raise CliError(
                    f"the backup's audit log is BROKEN at {report.where()} ({report.reason});"
                    " not restoring it"
                )
            head = await storage.audit_head()
            return head if head is not None else (0, report.head)
        finally:
            await storage.close()

    async def record(head: tuple[int, str]) -> int:
        storage = SqliteStorage(target)
        await storage.open(create=False)
        try:
            return await storage.append_audit(
                audit_entry("admin.restored", actor_id=cli_actor(), subject=str(backup.resolve()),
                            backup_head_id=head[0], backup_head=head[1])
            )  # fmt: skip
        finally:
            await storage.close()

    try:
        head = asyncio.run(checked())
        restore_file(scratch, target, force=True)
    finally:
        for leftover in (scratch, Path(f"{scratch}-wal"), Path(f"{scratch}-shm")):
            leftover.unlink(missing_ok=True)
    entry = asyncio.run(record(head))
    print(f"restored {backup} into {target}: audit log intact up to entry {head[0]} {head[1]}")
    print(f"the restore is audit entry {entry}. Copy the backup's attachments/ beside {target} too.")
    return 0


def cmd_purge_tombstones(args: argparse.Namespace) -> int:
    from server.retention import purge_tombstones

    if not args.yes:
        raise CliError("this deletes tombstones for good (their history stays in the audit log); add --yes")

    async def action(storage: Storage) -> int:
        report = await purge_tombstones(storage, older_than_days=args.older_than, actor_id=cli_actor())
        print(
            f"purged {len(report.purged)} tombstone(s) last changed before {report.cutoff};"
            f" in {len(report.horizons)} warehouse(s)"
            + "".join(f"; {w}: horizon {h}" for w, h in sorted(report.horizons.items())[:20])
            + f"; system audit entry {report.audit_id}"
        )
        return 0

    return _run(args, action)


def _published_head(value: list[str] | None) -> tuple[int, str] | None:
    if value is None:
        return None
    entry_id, entry_hash = value
    if not entry_id.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", entry_hash):
        raise CliError("--head takes an entry id and its hash (64 hex digits), as `audit head` prints them")
    return int(entry_id), entry_hash


def _chain_label(chain: str) -> str:
    return "the system chain" if chain == "" else f"chain {chain}"


def _load_checkpoints(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    from server import checkpoints as cp

    if not args.public_key:
        raise CliError("--checkpoints needs --public-key (the hex key or the .pub file of `audit keygen`)")
    try:
        return cp.public_key(args.public_key), cp.load(Path(args.checkpoints))
    except cp.CheckpointError as exc:
        raise CliError(str(exc)) from exc


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from server import checkpoints as cp
    from server.audit import verify_log

    marks: list[cp.Checkpoint] = []
    key = None
    published = _published_head(args.head)
    chain = args.warehouse or ""
    if args.checkpoints:
        key, marks = _load_checkpoints(args)

    async def action(storage: Storage) -> int:
        roots = await storage.audit_roots([m.root for m in marks if m.format >= 3])
        want = cp.wanted(marks, roots) | ({(chain, published[0])} if published else set())
        report = await verify_log(storage, want=want)
        if not report.ok:
            print(f"audit log BROKEN at {report.where()}: {report.reason}")
            return 1
        formats = ", ".join(f"{n} of format {f}" for f, n in sorted(report.formats.items()))
        chains = sum(1 for h in report.heads.values() if h.id)
        print(
            f"audit log intact: {report.count} entries ({formats or 'none'}) in {chains} chain(s),"
            f" system head {report.head_id} {report.head}, root {report.root}"
        )
        if report.legacy_time_steps_back:
            print(f"note: {report.legacy_time_steps_back} entries of format 1 (written before times were"
                  " kept in order) are timed before the entry preceding them")  # fmt: skip
        if published is not None:
            found = report.hashes.get((chain, published[0]))
            where = f"published head {published[0]} of {_chain_label(chain)}"
            if found is None:
                print(f"{where} FAILS: the log no longer has that entry (truncated?)")
                return 1
            if found != published[1]:
                print(f"{where} FAILS: that entry has another hash now (rewritten?)")
                return 1
            print(f"{where} {published[1]} is in the log")
        if key is not None:
            problem = cp.check(marks, key, report.hashes, roots)
            if problem is not None:
                mark = problem.checkpoint
                what = f"root {mark.root}" if mark.format >= 3 else f"entry {mark.id}"
                print(f"checkpoint of {what} signed at {mark.at} FAILS: {problem.reason}")
                return 1
            print(f"{len(marks)} signed checkpoint(s) match the log, chained one to the next")
        return 0

    return _run(args, action)


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from server import checkpoints as cp

    try:
        public = cp.generate_key(Path(args.key))
    except cp.CheckpointError as exc:
        raise CliError(str(exc)) from exc
    print(f"private key written to {args.key} (keep it away from the server); public key {public}")
    print(f"public key also in {args.key}.pub: give it to whoever verifies")
    return 0


def _checkpoints_file(args: argparse.Namespace) -> Path:
    return (
        Path(args.out) if args.out else Path(f"{sqlite_path(database_from_env(args.database))}.checkpoints")
    )


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from server import checkpoints as cp
    from server.audit import verify_log
    from server.models import now_iso
    from sync.audit import GENESIS

    async def action(storage: Storage) -> int:
        report = await verify_log(storage)
        if not report.ok:
            print(f"not signing: audit log BROKEN at {report.where()}: {report.reason}")
            return 1
        heads = {c: (h.id, h.hash) for c, h in report.heads.items() if h.id}
        if not heads:
            raise CliError("the audit log is empty: nothing to sign")
        out = _checkpoints_file(args)
        try:
            earlier = cp.load(out, allow_empty=True)  # refuses to extend a file that is not whole
            prev = earlier[-1].digest() if earlier else GENESIS
            mark = cp.sign(Path(args.key), heads, now_iso(), prev)
            # The heads first: a root in the file always has them in the database.
            await storage.save_audit_root(mark.root, mark.at, heads)
            cp.append(out, mark)
        except cp.CheckpointError as exc:
            raise CliError(str(exc)) from exc
        print(
            f"checkpoint of root {mark.root} over {mark.chains} chain(s) signed at {mark.at},"
            f" appended to {out}"
        )
        print(f"checkpoint digest {mark.digest()} (the next checkpoint is chained to it)")
        return 0

    return _run(args, action)


def cmd_audit_head(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        head = await storage.audit_head(args.warehouse or "")
        if head is None:
            print(f"{_chain_label(args.warehouse or '')} is empty")
        else:
            print(f"{head[0]} {head[1]}")
        return 0

    return _run(args, action)


def cmd_audit_prove(args: argparse.Namespace) -> int:
    """An inclusion proof that a head of one warehouse's chain (a berita acara's X-Audit-Head) is
    under a signed root; or, with --check, the check of such a proof without any database."""
    import msgspec

    from server import checkpoints as cp

    if args.check:
        if not args.public_key:
            raise CliError("--check needs --public-key (the hex key or the .pub file of `audit keygen`)")
        try:
            key = cp.public_key(args.public_key)
            proof = msgspec.json.decode(Path(args.check).read_bytes(), type=cp.Proof)
        except (OSError, msgspec.DecodeError, cp.CheckpointError) as exc:
            raise CliError(f"cannot read the proof {args.check}: {exc}") from exc
        problem = cp.check_proof(proof, key)
        if problem is not None:
            print(f"proof FAILS: {problem}")
            return 1
        print(
            f"proof holds: entry {proof.entry_id} {proof.entry_hash} of {_chain_label(proof.chain)} is under"
            f" root {proof.checkpoint.root} signed at {proof.checkpoint.at}"
        )
        return 0
    if not (args.warehouse and args.head and args.checkpoints):
        raise CliError("audit prove needs --warehouse W --head ID HASH --checkpoints FILE --public-key KEY")
    published = _published_head(args.head)
    assert published is not None
    key, marks = _load_checkpoints(args)

    async def action(storage: Storage) -> int:
        chain = args.warehouse
        roots = await storage.audit_roots([m.root for m in marks if m.format >= 3])
        for mark in marks:
            heads = roots.get(mark.root, {})
            if mark.format >= 3 and heads.get(chain, (0, ""))[0] >= published[0]:
                break
        else:
            print(f"no checkpoint covers entry {published[0]} of {_chain_label(chain)} yet: sign one")
            return 1
        rows = [row async for row in storage.audit_rows(chain, after_id=published[0] - 1)]
        rows = [row for row in rows if row.id <= heads[chain][0]]
        if not rows or rows[0].hash != published[1]:
            print(f"entry {published[0]} of {_chain_label(chain)} is not in the log with that hash")
            return 1
        links = [cp.Link(row.id, row.content) for row in rows[1:]]
        proof = cp.prove(mark, heads, chain, published, links)
        problem = cp.check_proof(proof, key)
        if problem is not None:
            print(f"proof FAILS: {problem}")
            return 1
        encoded = msgspec.json.encode(proof)
        if args.out:
            Path(args.out).write_bytes(encoded + b"\n")
            print(
                f"proof of entry {published[0]} of {_chain_label(chain)} under root {mark.root}"
                f" ({len(links)} link(s), {len(proof.path)} path step(s)) written to {args.out}"
            )
        else:
            sys.stdout.write(encoded.decode() + "\n")
        return 0

    return _run(args, action)


# -- alerts ----------------------------------------------------------------------------------------
def cmd_webhook_add(args: argparse.Namespace) -> int:
    from server.alerts import service

    if not args.secret_stdin:
        raise CliError("give the webhook's secret on standard input: --secret-stdin")
    secret = sys.stdin.readline().rstrip("\r\n")

    async def action(storage: Storage) -> int:
        try:
            webhook = await service.add_webhook(
                storage,
                url=args.url,
                events=args.event,
                warehouses=args.warehouse or [],
                secret=secret,
                allow_private=args.allow_private,
                actor=service.Who(cli_actor()),
            )
        except service.AlertInputError as exc:
            raise CliError(f"{exc.code}: {exc.message}") from exc
        print(f"added webhook {webhook.id} -> {webhook.url} ({', '.join(webhook.events)})")
        return 0

    return _run(args, action)


def cmd_webhook_list(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        for w in await storage.webhooks():
            where = ", ".join(w.warehouses) if w.warehouses else "all warehouses"
            private = " [allow-private]" if w.allow_private else ""
            print(f"{w.id}  {w.url}{private}  events: {', '.join(w.events)}  warehouses: {where}")
        return 0

    return _run(args, action)


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    from server.alerts import service

    async def action(storage: Storage) -> int:
        if not await service.remove_webhook(storage, args.id, actor=service.Who(cli_actor())):
            raise CliError(f"no webhook {args.id!r}")
        print(f"removed webhook {args.id}")
        return 0

    return _run(args, action)


def cmd_webhook_dead(args: argparse.Namespace) -> int:
    async def action(storage: Storage) -> int:
        for d in await storage.deliveries("dead"):
            print(f"{d.id}  {d.channel} {d.target_id}  {d.event} {d.subject}  attempts {d.attempts}"
                  f"  last error: {d.last_error}")  # fmt: skip
        return 0

    return _run(args, action)


def cmd_webhook_replay(args: argparse.Namespace) -> int:
    import time

    from server.alerts import service

    async def action(storage: Storage) -> int:
        if not await service.replay(storage, args.delivery_id, time.time(), actor=service.Who(cli_actor())):
            raise CliError(f"no dead-letter delivery {args.delivery_id!r}")
        print(f"delivery {args.delivery_id} queued again")
        return 0

    return _run(args, action)


def cmd_push_keygen(args: argparse.Namespace) -> int:
    from server.alerts import webpush

    path = Path(args.out)
    if path.exists():
        raise CliError(f"{path} exists already: subscriptions made with it would stop working")
    vapid = webpush.keygen(path)
    print(f"VAPID private key written to {path}; public key (browsers subscribe with it):")
    print(webpush.public_key(vapid))
    return 0


# -- argument parsing ------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        metavar="URL",
        help="database URL, e.g. sqlite:///data/tigapilar.db (default: $TIGAPILAR_DATABASE or that)",
    )
    parser = argparse.ArgumentParser(
        prog="tigapilar",
        description="Tiga Pilar: offline-first inspections of election-logistics warehouses.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[common], help="run the web server (migrates first)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--cert", metavar="FILE", help="TLS certificate (PEM) to serve HTTPS directly")
    serve.add_argument("--key", metavar="FILE", help="TLS private key (PEM)")
    serve.add_argument(
        "--forwarded-allow-ips",
        default=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        help="reverse proxies trusted for X-Forwarded-For/-Proto (default 127.0.0.1)",
    )
    serve.add_argument(
        "--keep-alive",
        type=int,
        default=KEEP_ALIVE_S,
        metavar="SECONDS",
        help=f"how long an idle connection stays open (default {KEEP_ALIVE_S}; keep it longer than any"
        " reverse proxy's or client's idle timeout)",
    )
    serve.add_argument(
        "--static-dir",
        metavar="DIR",
        help="directory of the web app (default: the installed package's copy, else the checkout's"
        " static/); serve refuses to start when it lacks index.html, sw.js or supervisor/index.html",
    )
    serve.add_argument(
        "--no-static",
        action="store_true",
        help="serve the API only, without the web app",
    )
    serve.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT_S,
        metavar="SECONDS",
        help="time a client has to send a request's line and headers, from the connection's start or"
        f" the request's first byte; slower connections are closed (default {HEADER_TIMEOUT_S})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        metavar="N",
        help="open connections this process holds at once; more are answered 503 and closed"
        f" (default {MAX_CONNECTIONS}; each open supervisor page holds one; keep it under the open-file"
        " limit)",
    )
    serve.add_argument(
        "--http",
        choices=PARSERS,
        default="auto",
        help="HTTP/1.1 parser: httptools (C, the default when installed) or h11 (pure Python)",
    )
    serve.add_argument(
        "--loop",
        choices=LOOPS,
        default="auto",
        help="event loop: uvloop (the default when installed) or asyncio's own",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="log one line per request (off by default: errors and warnings are logged either way)",
    )
    serve.add_argument(
        "--api-docs",
        action="store_true",
        help="serve the interactive API docs under /schema (they run scripts from CDNs on this origin;"
        " the schema at /schema/openapi.json is always served)",
    )
    serve.add_argument(
        "--public-url",
        default=os.environ.get("TIGAPILAR_PUBLIC_URL", ""),
        metavar="URL",
        help="origin of the supervisor pages as the people alerted reach them, for links in webhooks"
        " (default $TIGAPILAR_PUBLIC_URL)",
    )
    serve.add_argument(
        "--vapid-key",
        metavar="FILE",
        help="VAPID private key of Web Push (default vapid-private.pem beside the database, made when"
        " missing)",
    )
    serve.add_argument(
        "--alert-retention-days",
        type=_retention_days,
        default=os.environ.get("TIGAPILAR_ALERT_RETENTION_DAYS", str(Config.alert_retention_days)),
        metavar="DAYS",
        help="purge delivered and dead alert deliveries, with their events, this long after they were"
        " made (never one still to be delivered; each purge audited); 0 keeps them"
        " (default $TIGAPILAR_ALERT_RETENTION_DAYS or 30)",
    )
    serve.add_argument(
        "--no-alerts", action="store_true", help="do not deliver webhooks and Web Push from this process"
    )
    serve.add_argument("--debug", action="store_true", help="debug mode (tracebacks in logs)")
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", parents=[common], help="create or upgrade the database")
    migrate.set_defaults(func=cmd_migrate)

    seed = commands.add_parser(
        "seed-demo",
        parents=[common],
        help="add demo data to a new, empty database (refuses any other; does nothing if already seeded)",
    )
    seed.set_defaults(func=cmd_seed_demo)

    user = commands.add_parser("user", help="manage accounts")
    users = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = users.add_parser("add", parents=[common], help="create an account")
    add.add_argument("username")
    add.add_argument("--full-name", required=True, help="full name as shown to colleagues")
    add.add_argument("--agency", required=True, choices=AGENCIES, help="agency code")
    add.add_argument("--role", default="officer", choices=ROLES, help="role (default officer)")
    add.add_argument("--rank", help="rank, e.g. Aipda, Serka")
    add.add_argument("--id-number", help="NRP / NIP / NRK")
    add.add_argument("--warehouse", action="append", metavar="ID", help="assigned warehouse id (repeatable)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    passwd = users.add_parser(
        "passwd", parents=[common], help="set a new password (revokes the user's tokens)"
    )
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.add_argument("--keep-sessions", action="store_true", help="do not revoke logged-in devices")
    passwd.set_defaults(func=cmd_user_passwd)
    disable = users.add_parser("disable", parents=[common], help="disable an account and revoke its tokens")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_user_disable)
    enable = users.add_parser("enable", parents=[common], help="enable a disabled account")
    enable.add_argument("username")
    enable.set_defaults(func=cmd_user_enable)
    assign = users.add_parser("assign", parents=[common], help="replace a user's warehouse assignments")
    assign.add_argument("username")
    assign.add_argument("warehouses", nargs="*", metavar="WAREHOUSE_ID")
    assign.set_defaults(func=cmd_user_assign)
    listing = users.add_parser("list", parents=[common], help="list accounts")
    listing.set_defaults(func=cmd_user_list)

    backup = commands.add_parser("backup", parents=[common], help="online backup of the SQLite database")
    backup.add_argument("path", help="file to write (must not exist)")
    backup.set_defaults(func=cmd_backup)

    restore = commands.add_parser(
        "restore", parents=[common], help="replace the SQLite database with a backup (stop the server first)"
    )
    restore.add_argument("backup", metavar="BACKUP", help="backup file written by `tigapilar backup`")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    restore.set_defaults(func=cmd_restore)

    purge = commands.add_parser(
        "purge-tombstones",
        parents=[common],
        help="delete old tombstones for good (recorded in the audit log)",
    )
    purge.add_argument(
        "--older-than", type=int, required=True, metavar="DAYS", help="tombstones unchanged for DAYS days"
    )
    purge.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    purge.set_defaults(func=cmd_purge_tombstones)

    copy = commands.add_parser(
        "copy-to-postgres",
        help="copy a SQLite database into an empty PostgreSQL database (a kecamatan joining a city server)",
    )
    copy.add_argument("sqlite_url", metavar="SQLITE_URL", help="source, e.g. sqlite:///data/tigapilar.db")
    copy.add_argument(
        "postgres_url",
        metavar="POSTGRES_URL",
        help="target, e.g. postgresql://user:pw@host/db (created if missing)",
    )
    copy.add_argument(
        "--data-dir",
        metavar="DIR",
        help="also copy attachment files into DIR (the PostgreSQL servers' data dir)",
    )
    copy.set_defaults(func=cmd_copy_to_postgres)

    webhook = commands.add_parser("webhook", help="send alert events to other systems (docs/alerts.md)")
    webhooks = webhook.add_subparsers(dest="webhook_command", required=True, metavar="ACTION")
    hook_add = webhooks.add_parser(
        "add", parents=[common], help="POST the named events, signed with a secret read from stdin, to URL"
    )
    hook_add.add_argument("url", help="https://... (http:// only with --allow-private)")
    hook_add.add_argument(
        "--event", action="append", required=True, metavar="EVENT",
        help="an event to send (repeat for more): " + ", ".join(ALERT_EVENTS),
    )  # fmt: skip
    hook_add.add_argument(
        "--warehouse",
        action="append",
        metavar="ID",
        help="only this warehouse's events (repeat; default: all)",
    )
    hook_add.add_argument(
        "--secret-stdin", action="store_true", help="read the signing secret (16+ characters) from stdin"
    )
    hook_add.add_argument(
        "--allow-private", action="store_true",
        help="allow a loopback or private-network target (a gateway on your LAN); refused otherwise",
    )  # fmt: skip
    hook_add.set_defaults(func=cmd_webhook_add)
    hook_list = webhooks.add_parser("list", parents=[common], help="list webhooks")
    hook_list.set_defaults(func=cmd_webhook_list)
    hook_remove = webhooks.add_parser("remove", parents=[common], help="remove a webhook and its queue")
    hook_remove.add_argument("id")
    hook_remove.set_defaults(func=cmd_webhook_remove)
    hook_dead = webhooks.add_parser(
        "dead", parents=[common], help="list dead letters: deliveries that failed for the whole retry window"
    )
    hook_dead.set_defaults(func=cmd_webhook_dead)
    hook_replay = webhooks.add_parser("replay", parents=[common], help="queue a dead letter again")
    hook_replay.add_argument("delivery_id")
    hook_replay.set_defaults(func=cmd_webhook_replay)

    push = commands.add_parser("push", help="Web Push to supervisors' browsers and phones")
    pushes = push.add_subparsers(dest="push_command", required=True, metavar="ACTION")
    push_keygen = pushes.add_parser(
        "keygen", help="make the VAPID key pair (serve makes one beside the database when missing)"
    )
    push_keygen.add_argument(
        "--out", default="data/vapid-private.pem", metavar="FILE",
        help="private key file (default data/vapid-private.pem, beside the default database)",
    )  # fmt: skip
    push_keygen.set_defaults(func=cmd_push_keygen)

    audit = commands.add_parser("audit", help="check the tamper-evident audit log")
    audits = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audits.add_parser(
        "verify", parents=[common], help="walk the hash chain; exit 1 at the first broken entry"
    )
    verify.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="also check these signed checkpoints (fails on an empty, cut or unchained file)",
    )
    verify.add_argument("--public-key", metavar="HEX|FILE", help="key the checkpoints must be signed with")
    verify.add_argument(
        "--head",
        nargs=2,
        metavar=("ID", "HASH"),
        help="a head published earlier (`audit head`, X-Audit-Head-Id/X-Audit-Head of an export or a"
        " berita acara): the log must still hold that entry with that hash, which catches its newest"
        " entries being removed",
    )
    verify.add_argument(
        "--warehouse",
        metavar="ID",
        help="the chain --head is of (a berita acara's warehouse; default: system)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    head = audits.add_parser("head", parents=[common], help="print the id and hash of a chain's newest entry")
    head.add_argument("--warehouse", metavar="ID", help="that warehouse's chain (default: the system chain)")
    head.set_defaults(func=cmd_audit_head)
    prove = audits.add_parser(
        "prove",
        parents=[common],
        help="prove that a head of a warehouse's chain is under a signed root (or --check a proof)",
    )
    prove.add_argument("--warehouse", metavar="ID", help="the warehouse whose chain the head is of")
    prove.add_argument(
        "--head", nargs=2, metavar=("ID", "HASH"), help="the head (a berita acara's X-Audit-Head)"
    )
    prove.add_argument("--checkpoints", metavar="FILE", help="signed checkpoints (`audit checkpoint`)")
    prove.add_argument("--public-key", metavar="HEX|FILE", help="key the checkpoints are signed with")
    prove.add_argument("--out", metavar="FILE", help="write the proof (JSON) here instead of stdout")
    prove.add_argument("--check", metavar="PROOF", help="check this proof file (needs only --public-key)")
    prove.set_defaults(func=cmd_audit_prove)
    keygen = audits.add_parser("keygen", help="make an Ed25519 key pair for signing checkpoints")
    keygen.add_argument("key", metavar="KEYFILE", help="private key to write (KEYFILE.pub: the public key)")
    keygen.set_defaults(func=cmd_audit_keygen)
    checkpoint = audits.add_parser(
        "checkpoint",
        parents=[common],
        help="sign the Merkle root over every chain's head and append it to a file",
    )
    checkpoint.add_argument("--key", required=True, metavar="KEYFILE", help="private key from `audit keygen`")
    checkpoint.add_argument("--out", metavar="FILE", help="checkpoints file (default: DATABASE.checkpoints)")
    checkpoint.set_defaults(func=cmd_audit_checkpoint)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (CliError, StorageError, Conflict) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

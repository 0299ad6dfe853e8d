"""`python -m bench [--quick] [--only push,storm,storm-pg,...] [--no-write] [--keep]`

Runs the benchmark sections, prints one Markdown table per section and writes them, with the
machine they ran on, into docs/benchmarks.md (between the generated markers). With --only, only
those sections' parts of that block are rewritten; the others keep the figures they had.
`storm-pg` (the storm on PostgreSQL with two server processes), `alerts-pg` (the alert probes
there) and `national` (issue 18: a national database, 1, 2 and 4 server processes) run when
PostgreSQL is available and say "skipped" otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    alerts,
    core,
    growth,
    http_path,
    images,
    initial,
    layers,
    link,
    national,
    push,
    pwa,
    storm,
    summaries,
)
from bench.context import Context
from bench.env import REPO, machine
from bench.report import Section, render, write_doc, write_parts

SECTIONS: dict[str, Callable[[Context], Awaitable[Section | list[Section]]]] = {
    "push": push.run,
    "storm": storm.run,
    "storm-pg": storm.run_pg,
    "initial": initial.run,
    "growth": growth.run,
    "pwa": pwa.run,
    "images": images.run,
    "link": link.run,
    "http": http_path.run,
    "core": core.run,
    "alerts": alerts.run,
    "alerts-pg": alerts.run_pg,
    "layers": layers.run,
    "summaries": summaries.run,
    "national": national.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of under a minute")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated sections ({', '.join(SECTIONS)}); only their parts of the doc are rewritten",
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (databases, logs)")
    parser.add_argument("--workdir", help="where to put databases and logs (default: a temp dir)")
    parser.add_argument("--doc", default=str(REPO / "docs" / "benchmarks.md"), help="the file to update")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="tigapilar-bench-"))
    ctx = Context(workdir=workdir, quick=args.quick)
    info = machine()
    ctx.log(f"work directory {workdir}; sections: {', '.join(chosen)}{' (quick)' if args.quick else ''}")
    parts: dict[str, list[Section]] = {}
    failed = False
    try:
        for name in chosen:
            t0 = time.monotonic()
            load0 = os.getloadavg()[0]
            try:
                out = asyncio.run(SECTIONS[name](ctx))
            except Exception as exc:  # one broken section must not hide the others' figures
                traceback.print_exc()
                failed = True
                out = Section(name, f"{name}: FAILED", [], notes=[f"{type(exc).__name__}: {exc}"])
            sections = out if isinstance(out, list) else [out]
            sections[0].seconds = time.monotonic() - t0
            sections[0].load = f"{load0:.1f} → {os.getloadavg()[0]:.1f}"
            parts[name] = sections
            print(
                sections[-1].markdown() if len(sections) == 1 else "\n".join(s.markdown() for s in sections),
                flush=True,
            )
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    command = (
        "python -m bench" + (" --quick" if args.quick else "") + (f" --only {args.only}" if args.only else "")
    )
    if not args.no_write:
        if args.only:  # only these parts of the doc: the others keep their figures
            write_parts(Path(args.doc), info, parts, command=command, quick=args.quick)
        else:
            write_doc(Path(args.doc), render(info, parts, command=command, quick=args.quick))
        ctx.log(f"wrote {args.doc}")
    ctx.log(f"done in {time.monotonic() - ctx.started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

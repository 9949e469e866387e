"""``cronwork backfill``: runs for the past slots of a job's schedule (see cronwork.backfill)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cronwork.cli.app import JobIdArgument, StoreOption, app, examples, open_scheduler, say


@app.command(
    epilog=examples(
        "cronwork backfill report --from 2026-11-01 --to 2026-11-07T23:59",
        "cronwork backfill sync --from 2026-11-28T00:00Z --to 2026-11-28T12:00Z --overlap queue",
        "cronwork logs $(cronwork backfill -q report --from 2026-11-01 --to 2026-11-02 | head -1)",
    )
)
def backfill(
    job_id: JobIdArgument,
    start: Annotated[
        str,
        typer.Option(
            "--from",
            metavar="ISO",
            help="First instant of the range, e.g. 2026-11-01T00:00 (the job's zone unless "
            "an offset is given).",
        ),
    ],
    end: Annotated[
        str, typer.Option("--to", metavar="ISO", help="Last instant of the range, in the past.")
    ],
    overlap: Annotated[
        str,
        typer.Option(
            metavar="skip|queue|allow",
            help="skip: nothing while the job runs; queue: after its running run; "
            "allow: all at once.",
        ),
    ] = "skip",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print only the run ids.")] = False,
    store: StoreOption = None,
) -> None:
    """Record a run for each slot of a job's schedule in a past range (at most 1,000).

    Slots that have a run already keep it. A scheduler on the store runs the new runs like
    manual ones: one after another with --overlap skip or queue, all at once with allow.
    """
    runs = open_scheduler(store, "existing").backfill(job_id, start, end, overlap=overlap)
    if quiet:
        sys.stdout.write("".join(f"{run.id}\n" for run in runs))
        return
    if not runs:
        say(f"nothing to backfill: every slot of {job_id} in that range has a run")
        return
    from cronwork.cli.render import when

    first, last = runs[0].scheduled_for, runs[-1].scheduled_for
    count = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    span = when(first, relative=False)
    if len(runs) > 1:
        span += f" to {when(last, relative=False)}"
    say(f"backfilled {job_id}: {count}, slots {span} (overlap={overlap})")

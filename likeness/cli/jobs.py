"""User commands on generation: `likeness generate` and `likeness job ...`."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, cast

import click
import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

from likeness.api.assets.v1 import assets_service_pb2 as assets_pb
from likeness.api.common.v1 import usage_pb2
from likeness.api.generator.v1 import generator_service_pb2 as generator_pb
from likeness.cli.common import (
    EXIT_CHECK_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Cli,
    CliFailure,
    JobId,
    cli_state,
    command,
    emit_listing,
    enum_name,
    enum_value,
    err_console,
    exit_code_for,
    fields_table,
    id_column,
    out_console,
    to_dict,
    when,
)
from likeness.cli.registry import download_to
from likeness.cli.storyboard import (
    StoryboardError,
    check_request,
    consent_refusals,
    in_storyboard_words,
    parse_storyboard_with_paths,
)
from likeness.sdk import GeneratorClient, LikenessError
from likeness.sdk.pages import items

job_app = typer.Typer(help="Generation jobs.", no_args_is_help=True)

TERMINAL = {generator_pb.JOB_STATE_SUCCEEDED, generator_pb.JOB_STATE_FAILED, generator_pb.JOB_STATE_CANCELLED}
RANDOM_WEIGHTS_NOTICE = (
    "[yellow]note:[/yellow] this deployment runs a tiny model with RANDOM weights: the clip is noise, "
    "not the characters, and must never be published"
)


def state_name(state: int) -> str:
    return enum_name(generator_pb.JobState, state, "JOB_STATE_")


def _job_summary(job: generator_pb.Job) -> Table:
    table = fields_table()
    table.add_row("job", job.job_id)
    table.add_row("state", state_name(job.state))
    table.add_row("submitted", f"{when(job.create_time)} by {job.created_by}")
    table.add_row("finished", when(job.finish_time))
    progress = job.progress
    table.add_row(
        "progress", f"shot {progress.shot_index + 1}/{progress.shot_count}, {progress.fraction:.0%}"
    )
    table.add_row("model", f"{job.model.model_id}" + (" (random weights)" if job.random_weights else ""))
    if job.clip_object_id:
        table.add_row("clip", job.clip_object_id)
    if job.flagged:
        table.add_row("QA", "[yellow]flagged[/yellow]")
    if job.HasField("error"):
        code = enum_name(generator_pb.JobErrorCode, job.error.code, "JOB_ERROR_CODE_")
        table.add_row("error", f"[red]{code}[/red]: {job.error.message}")
    for warning in job.warnings:
        table.add_row("warning", warning.message)
    return table


def _scores_table(job: generator_pb.Job, names: dict[str, str] | None = None) -> Table:
    """Identity scores per shot and character; characters by ``names`` where known, else by id."""
    names = names or {}
    table = Table("shot", id_column("character"), "version", "mean", "min", "p10", "no face", "flag")
    for result in job.shot_results:
        for score in result.identity_scores:
            table.add_row(
                str(result.shot_index),
                names.get(score.character_id, score.character_id),
                str(score.identity_version),
                f"{score.mean_similarity:.3f}" if score.HasField("mean_similarity") else "-",
                f"{score.min_similarity:.3f}" if score.HasField("min_similarity") else "-",
                f"{score.p10_similarity:.3f}" if score.HasField("p10_similarity") else "-",
                f"{score.no_face_fraction:.0%}",
                "; ".join(result.flag_reasons) if result.flagged else "",
            )
    for score in job.final_identity_scores:
        table.add_row(
            "final",
            names.get(score.character_id, score.character_id),
            str(score.identity_version),
            f"{score.mean_similarity:.3f}" if score.HasField("mean_similarity") else "-",
            f"{score.min_similarity:.3f}" if score.HasField("min_similarity") else "-",
            f"{score.p10_similarity:.3f}" if score.HasField("p10_similarity") else "-",
            f"{score.no_face_fraction:.0%}",
            "",
        )
    return table


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _shot_detail(progress: generator_pb.JobProgress) -> str:
    phase = enum_name(generator_pb.JobPhase, progress.phase, "JOB_PHASE_") if progress.phase else "denoising"
    detail = f"{progress.step}/{progress.total_steps} steps · {phase}"
    if progress.HasField("shot_remaining"):
        detail += f" · about {_duration(progress.shot_remaining.ToTimedelta().total_seconds())} left"
    return detail


def watch(cli: Cli, generator: GeneratorClient, job_id: str, from_sequence: int = 0) -> generator_pb.Job:
    """Follow a job's events until it ends: a bar per shot with its phase and time left, and one for the
    whole job with the time since it started (also for a job started elsewhere). Ctrl-C offers to cancel."""
    bars: dict[int, TaskID] = {}
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        console=err_console,
        disable=cli.json_output,
    )
    job = generator.api.GetJob(generator_pb.GetJobRequest(job_id=job_id)).job
    started = job.start_time.ToDatetime(UTC) if job.HasField("start_time") else datetime.now(UTC)
    whole = progress.add_task("job", total=1000, completed=round(job.progress.fraction * 1000), detail="")

    def show_job(state: generator_pb.JobProgress) -> None:
        elapsed = (datetime.now(UTC) - started).total_seconds()
        detail = f"{state.fraction:.0%} · {_duration(elapsed)} elapsed"
        if state.HasField("job_remaining"):
            detail += f" · about {_duration(state.job_remaining.ToTimedelta().total_seconds())} left"
        progress.update(whole, completed=round(state.fraction * 1000), detail=detail)

    stream = generator.api.WatchJob(
        generator_pb.WatchJobRequest(job_id=job_id, from_sequence=from_sequence), timeout=None
    )
    try:
        with progress:
            show_job(job.progress)
            for message in stream:
                event = message.event
                shot = event.progress.shot_index
                if event.type in (
                    generator_pb.JOB_EVENT_TYPE_SHOT_STARTED,
                    generator_pb.JOB_EVENT_TYPE_PROGRESS,
                    generator_pb.JOB_EVENT_TYPE_PHASE_CHANGED,
                ) and event.HasField("shot_index"):
                    if shot not in bars:
                        bars[shot] = progress.add_task(
                            f"shot {shot + 1}/{event.progress.shot_count}",
                            total=event.progress.total_steps or None,
                            detail="",
                        )
                    progress.update(
                        bars[shot],
                        completed=event.progress.step,
                        total=event.progress.total_steps or None,
                        detail=_shot_detail(event.progress),
                    )
                if event.type in (
                    generator_pb.JOB_EVENT_TYPE_PROGRESS,
                    generator_pb.JOB_EVENT_TYPE_PHASE_CHANGED,
                    generator_pb.JOB_EVENT_TYPE_SHOT_FINISHED,
                ):
                    show_job(event.progress)
                if event.type == generator_pb.JOB_EVENT_TYPE_SHOT_FINISHED and shot in bars:
                    task = progress.tasks[bars[shot]]
                    progress.update(bars[shot], completed=task.total or task.completed, detail="done")
                elif event.type == generator_pb.JOB_EVENT_TYPE_PHASE_CHANGED and not event.HasField(
                    "shot_index"
                ):
                    phase = enum_name(generator_pb.JobPhase, event.progress.phase, "JOB_PHASE_")
                    progress.console.print(f"job: {phase}")
                elif event.type in (generator_pb.JOB_EVENT_TYPE_WARNING, generator_pb.JOB_EVENT_TYPE_LOG):
                    progress.console.print(
                        f"{'warning' if event.warning.message else 'log'}: {event.message}"
                    )
                elif event.type == generator_pb.JOB_EVENT_TYPE_STATE_CHANGED:
                    progress.console.print(f"job is {state_name(event.state)}")
                    if event.state in TERMINAL:
                        break
    except KeyboardInterrupt:
        # The SDK's stream is a generator (typed as the stub's call): closing it ends the WatchJob call,
        # while the job itself runs on in the generator.
        cast(Generator[Any, None, None], stream).close()
        _offer_to_cancel(generator, job_id)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    return generator.api.GetJob(generator_pb.GetJobRequest(job_id=job_id)).job


def _offer_to_cancel(generator: GeneratorClient, job_id: str) -> None:
    """After Ctrl-C: on a terminal, ask whether to cancel the job; otherwise say how to go on."""
    if sys.stdin.isatty():
        try:
            cancel = typer.confirm(f"\nCancel job {job_id}?", default=False, err=True)
        except (click.Abort, KeyboardInterrupt, EOFError):
            cancel = False
        if cancel:
            job = generator.api.CancelJob(generator_pb.CancelJobRequest(job_id=job_id)).job
            err_console.print(f"job {job.job_id} is {state_name(job.state)}")
            return
    err_console.print(
        f"job {job_id} goes on; follow it with `likeness job watch {job_id}`, "
        f"stop it with `likeness job cancel {job_id}`",
        soft_wrap=True,
    )


def character_names(cli: Cli, job: generator_pb.Job) -> dict[str, str]:
    """The display names of a job's characters, from the registry (ids stay where a lookup fails)."""
    names: dict[str, str] = {}
    with cli.assets() as assets:
        for character in job.characters:
            try:
                found = assets.api.GetCharacter(
                    assets_pb.GetCharacterRequest(character_id=character.character_id)
                ).character
            except LikenessError:
                continue
            names[character.character_id] = found.display_name or character.character_id
    return names


def _finish(
    cli: Cli, job: generator_pb.Job, output: Path | None, names: dict[str, str] | None = None
) -> None:
    data: dict[str, Any] = {"job": to_dict(job)}
    if job.state == generator_pb.JOB_STATE_SUCCEEDED and output is not None:
        with cli.assets() as assets:
            info = download_to(assets, job.clip_object_id, output)
        data["clip_path"] = str(output)
        data["clip_sha256"] = info.sha256

    def human() -> None:
        out_console.print(_job_summary(job))
        if job.shot_results:
            out_console.print(_scores_table(job, names))
        if "clip_path" in data:
            out_console.print(f"clip written to [bold]{data['clip_path']}[/bold]")
        if job.random_weights:
            out_console.print(RANDOM_WEIGHTS_NOTICE)

    cli.emit(data, human)
    if job.state != generator_pb.JOB_STATE_SUCCEEDED:
        raise typer.Exit(EXIT_CHECK_FAILED)


def generate(
    cli: Cli,
    storyboard: Path,
    output: Path | None,
    idempotency_key: str | None,
    wait: bool,
    preset: str | None = None,
) -> tuple[generator_pb.Job, dict[str, str]]:
    """Submit a storyboard (and follow the job when ``wait``); returns the job and the storyboard's
    names of its characters by id."""
    try:
        request, paths = parse_storyboard_with_paths(
            storyboard.read_text(), idempotency_key or str(uuid.uuid4()), preset
        )
        check_request(request, paths)
    except StoryboardError as error:
        raise CliFailure(f"{storyboard}: {error}", EXIT_USAGE) from None
    with cli.generator() as generator:
        try:
            job = generator.api.SubmitGeneration(request).job
        except LikenessError as error:
            problems = in_storyboard_words(error, paths)
            if not problems:
                raise
            message = f"{error.code.name}: {storyboard}: {'; '.join(problems)}"
            refused = consent_refusals(error)
            if refused:
                use = " ".join(
                    f"--{name} {enum_name(enum, value, prefix)}"
                    for name, enum, value, prefix in (
                        ("purpose", usage_pb2.UsagePurpose, request.purpose, "USAGE_PURPOSE_"),
                        ("channel", usage_pb2.UsageChannel, request.channel, "USAGE_CHANNEL_"),
                    )
                )
                message += (
                    ". To record a consent that covers this use: likeness consent record "
                    f"{refused[0]} --subject <name> --evidence <file> {use} --territory {request.territory}"
                )
            raise CliFailure(message, exit_code_for(error.code)) from None
        cli.info(f"submitted job {job.job_id} (idempotency key {job.idempotency_key})")
        if job.random_weights and not cli.json_output:
            err_console.print(RANDOM_WEIGHTS_NOTICE)
        if wait and job.state not in TERMINAL:
            job = watch(cli, generator, job.job_id)
    names = {
        character.character_id: name
        for shot in request.storyboard.shots
        for character in shot.characters
        if (name := paths.of(character.character_id).removeprefix("characters.")) != character.character_id
    }
    return job, names


@job_app.command("watch")
@command
def job_watch(
    ctx: typer.Context,
    job_id: JobId,
    from_sequence: Annotated[int, typer.Option("--from", help="Only events after this sequence.")] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Download the clip here on success.")
    ] = None,
) -> None:
    """Follow a job until it ends; exits 7 unless it succeeded."""
    cli = cli_state(ctx)
    with cli.generator() as generator:
        job = watch(cli, generator, job_id, from_sequence)
    _finish(cli, job, output)


@job_app.command("show")
@command
def job_show(ctx: typer.Context, job_id: JobId) -> None:
    """Show a job with its shots' identity scores."""
    cli = cli_state(ctx)
    with cli.generator() as generator:
        job = generator.api.GetJob(generator_pb.GetJobRequest(job_id=job_id)).job

    def human() -> None:
        out_console.print(_job_summary(job))
        if job.shot_results:
            out_console.print(_scores_table(job, character_names(cli, job)))

    cli.emit(to_dict(job), human)


@job_app.command("list")
@command
def job_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="Only this state, e.g. running.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
) -> None:
    """List the brand's jobs, newest first."""
    cli = cli_state(ctx)
    wanted = enum_value(generator_pb.JobState, state, "JOB_STATE_") if state else None
    with cli.generator() as generator:
        jobs = items(generator.api.ListJobs, generator_pb.ListJobsRequest(state=wanted), "jobs", limit)
    emit_listing(
        cli,
        jobs,
        (id_column("job"), "state", "submitted", "shots", "progress", "flagged"),
        lambda job: (
            job.job_id,
            state_name(job.state),
            when(job.create_time),
            str(job.progress.shot_count),
            f"{job.progress.fraction:.0%}",
            "yes" if job.flagged else "",
        ),
    )


@job_app.command("cancel")
@command
def job_cancel(ctx: typer.Context, job_id: JobId) -> None:
    """Cancel a job; denoising stops at the next step."""
    cli = cli_state(ctx)
    with cli.generator() as generator:
        job = generator.api.CancelJob(generator_pb.CancelJobRequest(job_id=job_id)).job
    cli.emit(to_dict(job), lambda: out_console.print(f"job {job.job_id} is {state_name(job.state)}"))


def generate_command(
    ctx: typer.Context,
    storyboard: Annotated[Path, typer.Argument(help="The storyboard (YAML).", exists=True, dir_okay=False)],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the clip.")] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Retry-safe key; the same key returns the same job."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job until it ends.")] = True,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="Every shot's speed preset: draft (a quick preview, same seeds), fast (final with "
            "step caching: close to final, in less time) or final; default: the storyboard's.",
        ),
    ] = None,
) -> None:
    """Generate a clip from a YAML storyboard, with live progress; exits 7 unless the job succeeded."""
    cli = cli_state(ctx)
    job, names = generate(cli, storyboard, output if wait else None, idempotency_key, wait, preset)
    if not wait:
        cli.emit(to_dict(job), lambda: out_console.print(_job_summary(job)))
        return
    if output is None and job.state == generator_pb.JOB_STATE_SUCCEEDED:
        output = Path(f"{job.job_id}.mp4")
    _finish(cli, job, output, names)


generate_command = command(generate_command)

"""``likeness train``: prepare shards, train the identity adapter, evaluate it.

These run on the machine that holds the data and the GPUs, not against the services: the face models
are the identity service's own pack (its quality gate and recogniser, loaded in-process), and the
Wan 2.2 weights come from a local diffusers directory (``--tiny``: the random tiny model, for trying the
commands on a CPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

train_app = typer.Typer(
    help="Train the identity adapter: prepare shards, run, evaluate.", no_args_is_help=True
)


def _face_engine() -> Any:
    from likeness.identity.engine import FaceEngine
    from likeness.identity.settings import IdentitySettings

    engine = FaceEngine(IdentitySettings(jwt_keys=[]))
    engine.start()
    return engine


def _pipeline(model_dir: Path | None, tiny: bool) -> Any:
    if tiny:
        from likeness.generator.model.tiny import tiny_pipeline

        typer.echo("the tiny random model: shards for trying the commands, not for a real adapter", err=True)
        return tiny_pipeline(0, 2)
    if model_dir is None:
        raise typer.BadParameter("give --model-dir (a local diffusers Wan 2.2 directory) or --tiny")
    import torch
    from diffusers import WanPipeline

    pipeline = WanPipeline.from_pretrained(  # type: ignore[no-untyped-call]
        model_dir, transformer=None, transformer_2=None, torch_dtype=torch.bfloat16, local_files_only=True
    )
    return pipeline.to("cuda" if torch.cuda.is_available() else "cpu")


@train_app.command("prepare")
def prepare_command(
    manifest: Annotated[Path, typer.Argument(help="JSON Lines: id, clip, caption, references, person_id.")],
    out: Annotated[Path, typer.Argument(help="Where the shards and index.json go (resumable).")],
    model_dir: Annotated[Path | None, typer.Option(help="A local diffusers Wan 2.2 directory.")] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="The random tiny model (trying it on a CPU).")] = False,
    height: int = 480,
    width: int = 832,
    frames: int = 81,
    samples_per_shard: int = 64,
    face_frames: Annotated[int, typer.Option(help="Frames per clip whose faces the loss uses.")] = 4,
    face_window: Annotated[
        int, typer.Option(help="The faces are taken from the first this many frames.")
    ] = 5,
    source: Annotated[
        str | None,
        typer.Option(
            help="s3://bucket/prefix with the manifest, clips and photos (MANIFEST relative to it)."
        ),
    ] = None,
    publish: Annotated[str | None, typer.Option(help="Upload the shards under s3://bucket/prefix.")] = None,
) -> None:
    """Encode clips, captions and reference photos into training shards; dropped entries say why.
    The object store is the one LIKENESS_MODEL_S3_ENDPOINT (and _ACCESS_KEY, _SECRET_KEY) names."""
    from likeness.generator.training.prepare import PrepareConfig, prepare
    from likeness.generator.training.shards import PrepareError, publish_to_store, stage_from_store

    try:
        config = PrepareConfig(
            height=height, width=width, frames=frames, samples_per_shard=samples_per_shard,
            face_frames=face_frames, face_window=face_window,
        )  # fmt: skip
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if source:
        manifest = stage_from_store(source, out.parent / f"{out.name}-source") / manifest
    pipeline = _pipeline(model_dir, tiny)
    engine = _face_engine()
    try:
        report = prepare(manifest, out, pipeline, engine, config, progress=True)
    except PrepareError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.stop()
    typer.echo(f"{report.kept} clips in {len(report.shards)} shards under {out}")
    if publish:
        typer.echo(f"uploaded {publish_to_store(out, publish)} objects under {publish}")
    for dropped in report.dropped:
        typer.echo(f"dropped {dropped.id}: {dropped.reason}")


@train_app.command("run")
def run_command(
    config: Annotated[
        Path, typer.Option("--config", help="train.yaml (see likeness.generator.training.trainer).")
    ],
    processes: Annotated[
        int, typer.Option(help="Ranks on this machine; 0: one per GPU (one process on a CPU-only machine).")
    ] = 0,
) -> None:
    """Train (or resume) the identity adapter; the adapter lands in the run directory."""
    import torch

    from likeness.generator.training.trainer import FINAL_ADAPTER, TrainConfig, launch

    try:
        settings = TrainConfig.load(config)
    except (OSError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    count = processes or (torch.cuda.device_count() or 1)
    launch(settings, count)
    typer.echo(f"trained adapter: {settings.out / FINAL_ADAPTER}")


@train_app.command("eval")
def eval_command(
    adapter: Annotated[Path, typer.Argument(help="The trained identity_adapter.safetensors.")],
    data: Annotated[
        Path, typer.Option(help="Held-out prepared shards (identities the adapter did not see).")
    ],
    model_dir: Annotated[Path | None, typer.Option(help="A local diffusers Wan 2.2 directory.")] = None,
    tiny: Annotated[bool, typer.Option("--tiny", help="The random tiny model (trying it on a CPU).")] = False,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1",
    strengths: Annotated[str, typer.Option(help="Comma-separated identity strengths.")] = "0,0.8",
    steps: int = 40,
    clip_model: Annotated[
        Path | None,
        typer.Option(help="A local CLIP directory (transformers) to measure prompt following (CLIPSIM)."),
    ] = None,
) -> None:
    """Generate the held-out identities at each strength with fixed seeds and score them as clip QA does;
    the report is saved beside the adapter."""
    from likeness.generator.training.evaluate import evaluate

    engine = _face_engine()
    try:
        report = evaluate(
            adapter, data, engine, model_dir=model_dir, tiny=tiny,
            seeds=[int(seed) for seed in seeds.split(",")],
            strengths=[float(value) for value in strengths.split(",")], steps=steps,
            clip_model=clip_model,
        )  # fmt: skip
    finally:
        engine.stop()
    typer.echo(json.dumps(report["summary"], indent=2))

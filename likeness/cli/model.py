"""``likeness model``: work on a model directory's weights, on the machine that holds them.

These commands load the Wan 2.2 weights from a local diffusers directory (as the Serve replica does) and
run them in this process; they do not talk to the services.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(help="Work on a model directory: calibrate the fast preset.", no_args_is_help=True)

DEFAULT_PROMPTS = (
    "a woman in a red coat walks through a snowy market at dusk, cinematic lighting",
    "a man laughs at a cafe table by a window, morning light, handheld camera",
    "two friends talk on a rooftop at sunset, the city behind them, slow dolly in",
    "a chef plates a dish in a busy kitchen, close-up, shallow depth of field",
)


@model_app.command("calibrate-fast")
def calibrate_fast_command(
    model_dir: Annotated[Path, typer.Argument(help="A local diffusers Wan 2.2 directory (written into).")],
    prompts: Annotated[
        Path | None, typer.Option(help="A text file, one prompt per line (default: four built-in ones).")
    ] = None,
    steps: Annotated[int, typer.Option(min=2, max=200, help="The steps the deployment's shots take.")] = 40,
    height: int = 480,
    width: int = 832,
    frames: int = 81,
    guidance: Annotated[float, typer.Option(min=1.0, max=20.0)] = 5.0,
    seed: int = 0,
    device: Annotated[str, typer.Option(help="Where the model runs: cuda, cuda:1, cpu.")] = "cuda",
) -> None:
    """Measure the fast preset's MagCache curve on this checkpoint and write fast_cache.json.

    Each prompt is generated once at `final` with every step computed, while the step cache records how
    the magnitude of each expert's residual changes from step to step; the mean curve replaces the
    published one for this model directory (a replica reads it at start). Run it on the deployed
    checkpoint with the deployment's steps and scheduler."""
    import torch

    from likeness.generator.model import fastcache
    from likeness.generator.model.loading import Placement
    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.shots import ShotRequest

    texts = list(DEFAULT_PROMPTS)
    if prompts is not None:
        texts = [line.strip() for line in prompts.read_text().splitlines() if line.strip()]
        if not texts:
            raise typer.BadParameter(f"{prompts} holds no prompt")
    if height % 16 or width % 16 or (frames - 1) % 4:
        raise typer.BadParameter("height and width must be multiples of 16, and frames 4k+1")
    try:
        placement = Placement.for_devices([torch.device(device)])
        model = WanVideoModel.from_pretrained(model_dir, placement=placement)
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if model.info.random_weights:
        typer.echo("the model's weights are random: its curve describes noise, not a checkpoint", err=True)
    requests = [
        ShotRequest(
            request_id=f"calibration-{index}",
            prompt=text,
            negative_prompt="",
            num_frames=frames,
            height=height,
            width=width,
            seed=seed + index,
            num_inference_steps=steps,
            guidance_scale=guidance,
        )
        for index, text in enumerate(texts)
    ]
    typer.echo(f"calibrating on {len(requests)} prompts, {steps} steps each, every step computed", err=True)
    curves = model.calibrate_fast(requests)
    path = fastcache.save_ratios(model_dir, curves)
    high, low = len(curves["transformer"]), len(curves["transformer_2"])
    typer.echo(f"wrote {path}: {high} high-noise and {low} low-noise steps from {len(requests)} prompts")

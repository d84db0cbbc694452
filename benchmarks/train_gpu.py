"""The identity adapter's training step on one GPU at A14B shapes: seconds per step and peak memory.

``python3 benchmarks/train_gpu.py`` builds one Wan 2.2 A14B-shaped expert (40 layers, hidden 5120) with
RANDOM bf16 weights directly on the GPU, the Wan VAE (random), the real identity adapter (float32 master
weights) and the face model of the loss (the identity pack's ArcFace in torch; ``--recogniser`` names its
ONNX file), and times the trainer's own step (``AdapterLoss`` forward, backward and AdamW) with gradient
checkpointing: for each expert (high noise: the step's noise level at or above the boundary; low noise:
below) at 480p x 33 and x 81 frames (``--sizes``). Nothing is downloaded; only the timings and the memory
mean anything. ``--tiny`` runs the same path on the tiny model on the CPU (a code-path check).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from generator_gpu import A14B_TRANSFORMER, WAN_VAE, building_on, keep_in_fp32, use_checkout

SIZES = {"480p": (480, 832), "720p": (720, 1280)}


def timed_steps(
    loss: Any, optimizer: Any, inputs: tuple[Any, ...], reps: int, device: Any
) -> tuple[Any, ...]:
    """The first step (memory statistics reset before it), then ``reps`` timed steps."""
    import torch

    cuda = device.type == "cuda"

    def step() -> Any:
        optimizer.zero_grad(set_to_none=True)
        with loss.conditioned(inputs[0]):
            values = loss(*inputs)
            values["total"].backward()
        optimizer.step()
        if cuda:
            torch.cuda.synchronize(device)
        return values

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    values = step()
    first = time.perf_counter() - started
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        values = step()
        times.append(time.perf_counter() - started)
    return first, times, values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="480p:33,480p:81", help="resolution:frames, comma-separated")
    parser.add_argument("--experts", default="high,low")
    parser.add_argument("--reps", type=int, default=2, help="timed steps after the warm-up step")
    parser.add_argument("--decode-latent-frames", type=int, default=2)
    parser.add_argument(
        "--recogniser", type=Path, help="the ArcFace ONNX file (default: the identity pack's)"
    )
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    use_checkout()

    import torch
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from likeness.generator.model.adapter import IdentityAdapter
    from likeness.generator.training.face import TorchArcFace
    from likeness.generator.training.frozen import FrozenModel
    from likeness.generator.training.loss import AdapterLoss, Batch
    from likeness.generator.training.trainer import TrainConfig

    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    if args.tiny:
        from likeness.generator.model.tiny import tiny_components, tiny_transformer_config

        config = tiny_transformer_config(heads=2)
        vae = tiny_components(0)["vae"]
    else:
        config = dict(A14B_TRANSFORMER)
        with building_on(device, dtype):
            vae = AutoencoderKLWan(**WAN_VAE)
    torch.manual_seed(0)
    with building_on(device, dtype):
        expert = WanTransformer3DModel(**config)
    keep_in_fp32(expert)
    expert.enable_gradient_checkpointing()
    hardware = torch.cuda.get_device_name(device) if cuda else "CPU"
    report: dict[str, Any] = {
        "hardware": hardware,
        "torch": torch.__version__,
        "random_weights": True,
        "runs": {},
    }
    print(
        f"one A14B-shaped expert ({config['num_layers']} layers), RANDOM weights, on {hardware}", flush=True
    )
    face = TorchArcFace(args.recogniser).to(device).eval()
    for size in args.sizes.split(","):
        resolution, frames = size.split(":")
        height, width = SIZES[resolution] if not args.tiny else (64, 64)
        frames_count = int(frames) if not args.tiny else 9
        for which in args.experts.split(","):
            name = "transformer" if which == "high" else "transformer_2"
            sigma = 0.95 if which == "high" else 0.5
            frozen = FrozenModel(experts={name: expert}, vae=vae, boundary=0.875, num_train_timesteps=1000)
            frozen.freeze()
            expert.enable_gradient_checkpointing()
            adapter = IdentityAdapter.for_transformer(expert).float().to(device)
            adapter.requires_grad_(False)
            adapter.blocks[name].requires_grad_(True)
            adapter.projector.requires_grad_(True)
            frames_decoded = args.decode_latent_frames
            train = TrainConfig(
                data=Path("."), out=Path("."), steps=1, expert=which, decode_latent_frames=frames_decoded
            )
            loss = AdapterLoss(adapter, frozen, face, train)
            optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=1e-5)
            trainable = sum(p.numel() for p in adapter.parameters() if p.requires_grad)
            generator = torch.Generator("cpu").manual_seed(1)
            latent = (1, 16, (frames_count - 1) // 4 + 1, height // 8, width // 8)
            face_frames = torch.arange(min(4, 1 + 4 * (args.decode_latent_frames - 1)), device=device)
            template = torch.tensor(
                [[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], device=device
            )
            scale = min(height, width) / 3 / 112
            landmarks = template * scale + torch.tensor([width / 2 - 56 * scale, height / 3], device=device)
            batch = Batch(
                latents=torch.randn(latent, generator=generator).to(device),
                prompt_embeds=torch.randn((1, 512, config["text_dim"]), generator=generator).to(device),
                z_id=torch.nn.functional.normalize(torch.randn((1, 512), generator=generator), dim=-1).to(
                    device
                ),
                face_frames=[face_frames],
                landmarks=[landmarks.expand(len(face_frames), 5, 2)],
            )
            noise = torch.randn(latent, generator=generator).to(device)

            first, times, values = timed_steps(loss, optimizer, (batch, sigma, noise), args.reps, device)
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else 0.0
            label = f"{which} noise expert, {resolution} x {frames_count} frames"
            report["runs"][label] = {
                "first_step_s": first, "mean_step_s": statistics.mean(times), "steps_s": times,
                "peak_gib": peak, "trainable_parameters": trainable, "faces_in_loss": int(values["faces"]),
                "total_loss": float(values["total"]), "expert": name,
            }  # fmt: skip
            print(
                f"{label}: {statistics.mean(times):.2f} s per step (first {first:.1f} s), "
                f"peak {peak:.1f} GiB, "
                f"{trainable / 1e6:.0f} M trainable, {int(values['faces'])} faces in the loss",
                flush=True,
            )
            loss._installed.remove()
            del loss, optimizer, adapter, values
            if cuda:
                torch.cuda.empty_cache()
            if args.json:
                args.json.write_text(json.dumps(report, indent=2))
    print("weights are random: only the timings and the memory mean anything")
    return 0


if __name__ == "__main__":
    sys.exit(main())

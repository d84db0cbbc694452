"""GPU part of the generator benchmark: the identity adapter's cost per denoising step on Wan 2.2 A14B.

Builds the real Wan 2.2 T2V A14B architecture — both 40-layer experts (hidden 5120, 40 heads, FFN 13824),
the UMT5-XXL text encoder and the Wan VAE — with RANDOM bf16 weights initialised directly on the GPU
(nothing is downloaded; the tokenizer is the byte-level one built in code). An H200 holds it all at once
(about 71 GB of weights). Then, at 480x832 x 81 frames with classifier-free guidance (two expert forwards
per step), it times denoising steps of

- the stock diffusers two-expert ``WanPipeline`` (the stock attention processors),
- ours with every identity strength 0 (our processors installed, handing every call to the stock one),
- ours with one character at identity_strength 0.8 (the decoupled identity attention in all 80 blocks),

in interleaved rounds, and prints the adapter's overhead against the stock pipeline measured in the same
run (target <= 3%). Each pipeline call's first step is a warm-up and is not counted; the VAE decode is
skipped (``output_type="latent"``: the same work with or without the adapter). Random weights mean the
frames would be noise; only the timings mean anything.

    python3 benchmarks/generator_gpu.py              # the GPU run (about 4 minutes on an H200)
    python3 benchmarks/generator_gpu.py --tiny       # the same code path on the tiny model, on the CPU

It runs from a checkout without installing the package (the GPU machine has no package index): it then
imports ``likeness`` from the checkout and maps ``likeness.<service>`` to ``services/<service>`` the way
pyproject's package-dir does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Wan 2.2 T2V A14B, each expert (diffusers WanTransformer3DModel config).
A14B_TRANSFORMER = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 40,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 13824,
    "num_layers": 40,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
#: UMT5-XXL's encoder, Wan's text encoder (transformers UMT5Config).
UMT5_XXL = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
#: The Wan 2.1/2.2 A14B VAE (diffusers AutoencoderKLWan config).
WAN_VAE = {
    "base_dim": 96,
    "z_dim": 16,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
}
#: Wan 2.2 T2V A14B's scheduler.
FLOW_SHIFT = 12.0
PROMPT = "a woman in a red coat walks through a snowy market at dusk, cinematic lighting"
NEGATIVE = "blurry, distorted, low quality"


def use_checkout() -> None:
    """Import likeness from this checkout when it is not installed (the GPU machine)."""
    try:
        import likeness.generator.model.video
    except ModuleNotFoundError:
        sys.path.insert(0, str(ROOT))
        for name in [name for name in sys.modules if name == "likeness" or name.startswith("likeness.")]:
            del sys.modules[name]
        import likeness

        likeness.__path__.append(str(ROOT / "services"))


@contextlib.contextmanager
def building_on(device: Any, dtype: Any) -> Iterator[None]:
    """New modules' parameters are made directly on ``device`` in ``dtype`` (no host copy, no fp32 copy)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def keep_in_fp32(model: Any) -> None:
    """The submodules diffusers keeps in float32 when it loads a bf16 model, kept so here too."""
    names = set(getattr(model, "_keep_in_fp32_modules", None) or ())
    for name, module in model.named_modules():
        if names & set(name.split(".")):
            module.float()


def build_pipeline(
    tiny: bool, device: Any, dtype: Any, layers: int | None = None, text_layers: int | None = None
) -> Any:
    """The tiny model, or the A14B architecture (``layers`` cuts both experts and the text encoder short:
    A14B widths at a size a CPU holds, to check the code path; ``text_layers`` cuts the text encoder
    alone, where its time is not what is measured and its memory is wanted for both experts)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from likeness.generator.model.tiny import BOUNDARY_RATIO, byte_tokenizer, tiny_components

    if tiny:
        return WanPipeline(**tiny_components(seed=0))
    torch.manual_seed(0)
    started = time.perf_counter()
    transformer_config, text_config = dict(A14B_TRANSFORMER), dict(UMT5_XXL)
    if layers:
        transformer_config["num_layers"] = text_config["num_layers"] = layers
    if text_layers:
        text_config["num_layers"] = min(text_layers, text_config["num_layers"])
    with building_on(device, dtype):
        experts = [WanTransformer3DModel(**transformer_config) for _ in range(2)]
        text_encoder = UMT5EncoderModel(UMT5Config(**text_config))
        vae = AutoencoderKLWan(**WAN_VAE)
    for expert in experts:
        keep_in_fp32(expert)
    vae.float()
    for module in (*experts, text_encoder, vae):
        module.eval().requires_grad_(False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    layers_used = (transformer_config["num_layers"], text_config["num_layers"])
    layout = "{} layers per expert, {} in the text encoder".format(*layers_used)
    seconds = time.perf_counter() - started
    print(f"built the random A14B architecture ({layout}) on {device} in {seconds:.1f} s", flush=True)
    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=FLOW_SHIFT,
    )
    return WanPipeline(
        tokenizer=byte_tokenizer(),
        text_encoder=text_encoder,
        vae=vae,
        scheduler=scheduler,
        transformer=experts[0],
        transformer_2=experts[1],
        boundary_ratio=BOUNDARY_RATIO,
    )


class StepClock:
    """Wall time of each denoising step, synchronised with the device at every step's end."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.marks: list[float] = []

    def start(self) -> None:
        self.marks = [self._now()]

    def step(self, *_: Any) -> None:
        self.marks.append(self._now())

    def _now(self) -> float:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def steps_after_the_first(self) -> list[float]:
        durations = [later - earlier for earlier, later in zip(self.marks, self.marks[1:], strict=False)]
        return durations[1:]


def adapter_main(argv: Sequence[str] | None = None) -> int:
    """The identity adapter's overhead per step (``--adapter``)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--adapter", action="store_true", help="this benchmark (the adapter's overhead)")
    parser.add_argument(
        "--tiny", action="store_true", help="the tiny random model on the CPU (a code-path check)"
    )
    parser.add_argument(
        "--steps", type=int, default=4, help="steps per pipeline call; the first is a warm-up"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved rounds of the three configurations"
    )
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--frames", type=int)
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--device", default="cuda:0", help="for the A14B architecture (cpu: a code-path check)"
    )
    parser.add_argument("--layers", type=int, help="A14B widths with this many layers (a code-path check)")
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (the first step of every call is a warm-up)")

    use_checkout()
    import diffusers
    import numpy as np
    import torch

    from likeness.generator.model.adapter import IdentityAdapter, install
    from likeness.generator.model.loading import randomize_values
    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.shots import CharacterConditioning, ShotRequest

    if args.tiny:
        device, dtype = torch.device("cpu"), torch.float32
        height, width, frames = args.height or 64, args.width or 64, args.frames or 9
    else:
        device, dtype = torch.device(args.device), torch.bfloat16
        if device.type == "cuda" and not torch.cuda.is_available():
            print("no CUDA device: run with --tiny for the CPU code path", file=sys.stderr)
            return 2
        height, width, frames = args.height or 480, args.width or 832, args.frames or 81
    name = (
        "tiny Wan 2.2 (random weights)"
        if args.tiny
        else "Wan 2.2 T2V A14B architecture (random bf16 weights)"
    )
    if args.layers:
        name += f", cut to {args.layers} layers"
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, {height}x{width} x {frames} frames, guidance {args.guidance}, on {hardware}")
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}", flush=True)

    pipeline = build_pipeline(args.tiny, device, dtype, args.layers)
    pipeline.set_progress_bar_config(disable=True)
    torch.manual_seed(1)
    with building_on(device, dtype):
        adapter = IdentityAdapter.for_transformer(pipeline.transformer)
    randomize_values(adapter)
    model = WanVideoModel(
        pipeline, adapter=adapter, model_id="benchmark", adapter_id="random", random_weights=True
    )
    experts = {"transformer": pipeline.transformer, "transformer_2": pipeline.transformer_2}
    parameters = sum(parameter.numel() for parameter in adapter.parameters())
    print(
        f"identity adapter: {parameters / 1e6:.1f} M parameters, "
        f"{adapter.config.num_tokens} tokens per character"
    )
    scheduler = pipeline.scheduler
    scheduler.set_timesteps(args.steps)
    boundary = pipeline.config.boundary_ratio * scheduler.config.num_train_timesteps
    experts_by_step = ["high" if t >= boundary else "low" for t in scheduler.timesteps.tolist()]
    print(f"per call: {args.steps} steps, experts {experts_by_step}; step 1 is a warm-up", flush=True)

    vector = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    z_id = vector / np.linalg.norm(vector)
    clock = StepClock(device)

    def shot(strength: float, steps: int) -> ShotRequest:
        return ShotRequest(
            request_id="benchmark",
            prompt=PROMPT,
            negative_prompt=NEGATIVE,
            num_frames=frames,
            height=height,
            width=width,
            seed=0,
            num_inference_steps=steps,
            guidance_scale=args.guidance,
            characters=(CharacterConditioning("benchmark", z_id, strength),),
        )

    def stock(steps: int) -> list[float]:
        model.installed[0].remove()
        try:
            clock.start()
            pipeline(
                prompt=PROMPT,
                negative_prompt=NEGATIVE,
                height=height,
                width=width,
                num_frames=frames,
                num_inference_steps=steps,
                guidance_scale=args.guidance,
                generator=torch.Generator("cpu").manual_seed(0),
                output_type="latent",
                callback_on_step_end=lambda *step: clock.step() or {},
            )
        finally:
            model.installed[0] = install(adapter, experts, model.identity_context)
        return clock.steps_after_the_first()

    def ours(strength: float) -> Callable[[int], list[float]]:
        def run(steps: int) -> list[float]:
            clock.start()
            model.denoise([shot(strength, steps)], on_step=lambda *_: clock.step(), output_type="latent")
            return clock.steps_after_the_first()

        return run

    configurations: dict[str, Callable[[int], list[float]]] = {
        "stock WanPipeline": stock,
        "ours, identity strength 0": ours(0.0),
        f"ours, identity strength {args.strength:g}": ours(args.strength),
    }
    started = time.perf_counter()
    # Warm-up: the kernels of both paths (the experts have the same shapes, so one warms the other's).
    stock(2)
    ours(args.strength)(2)
    print(f"warm-up done in {time.perf_counter() - started:.1f} s", flush=True)
    timings: dict[str, list[float]] = {label: [] for label in configurations}
    for round_index in range(args.rounds):
        for label, run in configurations.items():
            durations = run(args.steps)
            timings[label].extend(durations)
            shown = ", ".join(f"{duration:.3f}" for duration in durations)
            print(f"round {round_index + 1}: {label}: steps {shown} s", flush=True)

    baseline = statistics.mean(timings["stock WanPipeline"])
    print()
    print(f"{'per denoising step (2 expert forwards)':<40} {'mean s':>9} {'min s':>9} {'vs stock':>9}")
    results = {}
    for label, durations in timings.items():
        mean = statistics.mean(durations)
        overhead = (mean - baseline) / baseline * 100
        results[label] = {
            "mean_s": mean,
            "min_s": min(durations),
            "steps": durations,
            "overhead_pct": overhead,
        }
        versus = "-" if label == "stock WanPipeline" else f"{overhead:+.2f}%"
        print(f"{label:<40} {mean:>9.3f} {min(durations):>9.3f} {versus:>9}")
    adapter_overhead = results[f"ours, identity strength {args.strength:g}"]["overhead_pct"]
    verdict = "within" if adapter_overhead <= 3.0 else "OVER"
    print(f"identity adapter overhead per step: {adapter_overhead:+.2f}% ({verdict} the 3% target)")
    if device.type == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB")
    print(f"timed part: {time.perf_counter() - started:.1f} s; weights are random: the frames would be noise")
    if args.json:
        summary = {
            "model": name,
            "hardware": hardware,
            "size": [frames, height, width],
            "guidance": args.guidance,
            "steps_per_call": args.steps,
            "rounds": args.rounds,
            "results": results,
            "adapter_overhead_pct": adapter_overhead,
            "random_weights": True,
        }
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--adapter" in arguments:
        return adapter_main(arguments)
    from engine_gpu import engine_main  # type: ignore[import-not-found]

    return int(engine_main(arguments))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(main())

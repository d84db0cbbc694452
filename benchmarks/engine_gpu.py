"""The generation engine on GPUs: seconds per denoising step and per clip, ours against stock diffusers.

``python3 benchmarks/generator_gpu.py --resolution 480p`` (the default run of generator_gpu.py) builds one
Wan 2.2 A14B expert (40 layers, hidden 5120, 40 heads, FFN 13824) with RANDOM bf16 weights directly on the
GPU, and the Wan VAE (nothing is downloaded; the frames would be noise, only the timings mean anything).
Both A14B experts have the same architecture, so one expert's step is every step's cost. At 81 frames it
measures, in one process on one card:

- **stock**: the stock ``WanTransformer3DModel``, eager, one guided step = conditional + unconditional
  forward, per attention backend asked for (``--backends``; diffusers' dispatcher names);
- **ours final**: our identity adapter on every block (one character at strength 0.8) and the blocks
  compiled with ``compile_repeated_blocks(fullgraph=True)``; the first call (which compiles) is reported
  apart, then warm steps;
- **ours FP8** (``--fp8``): the blocks' linears as torchao float8 dynamic row-wise, compiled;
- **draft clip**: 4 steps of one forward (guidance 1: no unconditional pass; the Lightning LoRA is fused
  into the weights, so it costs nothing per step) and the VAE decode, timed end to end;
- **fast clip**: projected, not run: the share of expert passes the fast preset's MagCache computes
  with A14B's scheduler (found by running its hooks on the tiny model: the skip decisions depend on the
  step counter and the curve, never on the weights) times the measured final step, plus the decode;
- **a replica restart** (``--restart-check``): a fresh process with the same inductor cache
  (``TORCHINDUCTOR_CACHE_DIR``) builds the model, compiles and times its first and second step;
- **a whole replica** (``--replica``): a fresh process builds both experts, the identity adapter, the
  VAE and a text encoder cut to 2 layers (its time is not measured; its memory goes to the experts) as
  :class:`WanVideoModel`, compiles and warms it up as a Serve replica does at start (the inductor cache
  the first process filled), then runs requests through the model's own ``denoise``: the first request
  after the start against the same request again (warm), and a ``fast`` clip (``--steps`` steps with
  MagCache, decode included) end to end, with the passes it skipped.

A clip at ``final`` is ``--steps`` (40) guided steps plus the VAE decode, computed from the measured step
and decode times. TFLOP/s count the transformer's matrix products (attention included).

``--gpus 1,2,4`` instead runs the step on N ranks (context + CFG parallel, :mod:`likeness.generator.model.
parallel`) for each N in one invocation, with N = 1 as the baseline: seconds per step, speed-up, peak
memory per card, and the relative difference of the step's output against N = 1. ``--tiny`` runs every
path on the tiny model on CPU ranks (gloo): a code-path check, not a measurement.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from generator_gpu import A14B_TRANSFORMER, FLOW_SHIFT, WAN_VAE, building_on, keep_in_fp32, use_checkout

RESOLUTIONS = {"480p": (480, 832), "720p": (720, 1280)}
GUIDANCE = 5.0
STRENGTH = 0.8
TEXT_TOKENS = 512


def now(device: Any) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def timed(device: Any, run: Callable[[], Any]) -> float:
    started = now(device)
    run()
    return now(device) - started


def transformer_config(tiny: bool, layers: int | None) -> dict[str, Any]:
    if tiny:
        from likeness.generator.model.tiny import tiny_transformer_config

        return tiny_transformer_config(heads=4)
    config = dict(A14B_TRANSFORMER)
    if layers:
        config["num_layers"] = layers
    return config


def build_expert(config: dict[str, Any], device: Any, dtype: Any) -> Any:
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    with building_on(device, dtype):
        expert = WanTransformer3DModel(**config)
    keep_in_fp32(expert)
    return expert.eval().requires_grad_(False)


def fuse_self_attention(expert: Any) -> None:
    """Self-attention's q, k and v projections as one linear in every block (diffusers' own
    ``fuse_projections``), the separate ones dropped so the weights are held once."""
    for block in expert.blocks:
        block.attn1.fuse_projections()
        for name in ("to_q", "to_k", "to_v"):
            delattr(block.attn1, name)


def step_flops(config: dict[str, Any], tokens: int) -> float:
    """Matrix-product FLOPs of one forward (2 per multiply-add)."""
    width = config["num_attention_heads"] * config["attention_head_dim"]
    per_block = (
        2 * tokens * width * width * 4  # self-attention q, k, v, o
        + 2 * 2 * tokens * tokens * width  # QK^T and AV
        + 2 * tokens * width * width * 2  # cross-attention q, o
        + 2 * 2 * TEXT_TOKENS * width * width  # cross-attention k, v on the text
        + 2 * 2 * tokens * TEXT_TOKENS * width  # cross-attention scores and values
        + 2 * 2 * tokens * width * config["ffn_dim"]  # FFN
    )
    return float(per_block * config["num_layers"])


class Inputs:
    """One step's inputs at a size: latents, timestep, text embeddings (random, as the weights)."""

    def __init__(self, config: dict[str, Any], size: tuple[int, int, int], device: Any, dtype: Any) -> None:
        import torch

        frames, height, width = size
        generator = torch.Generator("cpu").manual_seed(1)
        shape = (1, config["in_channels"], (frames - 1) // 4 + 1, height // 8, width // 8)
        self.latents = torch.randn(shape, generator=generator).to(device, dtype)
        self.timestep = torch.tensor([900.0], device=device)
        text = (1, TEXT_TOKENS, config["text_dim"])
        self.positive = torch.randn(text, generator=generator).to(device, dtype)
        self.negative = torch.randn(text, generator=generator).to(device, dtype)
        patch = config["patch_size"]
        self.tokens = shape[2] // patch[0] * (shape[3] // patch[1]) * (shape[4] // patch[2])

    def forward(self, expert: Any, embeds: Any) -> Any:
        return expert(
            hidden_states=self.latents,
            timestep=self.timestep,
            encoder_hidden_states=embeds,
            return_dict=False,
        )[0]

    def guided_step(self, expert: Any) -> Any:
        conditional = self.forward(expert, self.positive)
        unconditional = self.forward(expert, self.negative)
        return unconditional + GUIDANCE * (conditional - unconditional)


def relative_difference(first: Any, second: Any) -> float:
    first, second = first.float(), second.float()
    return float((first - second).norm() / second.norm())


class Report:
    """Results printed as they come and rewritten to the JSON file after each one."""

    def __init__(self, path: Path | None, header: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {**header, "random_weights": True, "results": {}}

    def add(self, label: str, **values: Any) -> None:
        self.data["results"][label] = values
        shown = ", ".join(
            f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
            for key, value in values.items()
            if not isinstance(value, list)
        )
        print(f"{label}: {shown}", flush=True)
        self.save()

    def save(self) -> None:
        if self.path is not None:
            self.path.write_text(json.dumps(self.data, indent=2))


def sizes(args: argparse.Namespace) -> tuple[Any, Any, tuple[int, int, int], dict[str, Any]]:
    """Device, dtype, (frames, height, width) and the expert's config: the tiny model in float32 on the
    CPU, or the A14B shapes in bf16 on the GPU."""
    import torch

    if args.tiny:
        return torch.device("cpu"), torch.float32, (9, 64, 64), transformer_config(True, None)
    height, width = RESOLUTIONS[args.resolution]
    return (
        torch.device("cuda"), torch.bfloat16, (args.frames, height, width),
        transformer_config(False, args.layers),
    )  # fmt: skip


def with_identity(expert: Any, config: dict[str, Any], device: Any, dtype: Any) -> tuple[Any, ...]:
    """Our identity adapter (random values) on every block of the expert, and one character's
    tokens at STRENGTH: (adapter, installed, tokens, strengths)."""
    import numpy as np
    import torch

    from likeness.generator.model.adapter import (
        IdentityAdapter,
        IdentityAdapterConfig,
        identity_bank,
        install,
    )
    from likeness.generator.model.loading import randomize_values

    torch.manual_seed(2)
    inner_dim = config["num_attention_heads"] * config["attention_head_dim"]
    with building_on(device, dtype):
        adapter = IdentityAdapter(
            IdentityAdapterConfig(
                inner_dim=inner_dim, num_layers=config["num_layers"], experts=("transformer",)
            )
        )
    randomize_values(adapter)
    installed = install(adapter, {"transformer": expert})
    vector = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    z_id = torch.from_numpy(vector / np.linalg.norm(vector))
    tokens, strengths = identity_bank(adapter, [[(z_id, STRENGTH)]], device, dtype)
    return adapter, installed, tokens, strengths


def one_gpu(args: argparse.Namespace) -> tuple[Report, float]:
    """The one-card measurements; returns the report and the measured decode time."""
    import diffusers
    import torch
    from diffusers import AutoencoderKLWan
    from diffusers.models.attention_dispatch import attention_backend

    device, dtype, (frames, height, width), config = sizes(args)
    hardware = "CPU" if args.tiny else torch.cuda.get_device_name(device)
    report = Report(
        args.json,
        {"hardware": hardware, "size": [frames, height, width], "torch": torch.__version__,
         "diffusers": diffusers.__version__, "layers": config["num_layers"], "steps_per_clip": args.steps},
    )  # fmt: skip
    print(
        f"one Wan 2.2 A14B-shaped expert ({config['num_layers']} layers), RANDOM weights, "
        f"{height}x{width} x {frames} frames on {hardware}; torch {torch.__version__}, "
        f"diffusers {diffusers.__version__}",
        flush=True,
    )
    started = time.perf_counter()
    expert = build_expert(config, device, dtype)
    if args.tiny:
        from likeness.generator.model.tiny import tiny_components

        vae = tiny_components(0)["vae"]
    else:
        with building_on(device, dtype):
            vae = AutoencoderKLWan(**WAN_VAE)
    vae.eval().requires_grad_(False)
    inputs = Inputs(config, (frames, height, width), device, dtype)
    flops = 2 * step_flops(config, inputs.tokens)
    print(f"built in {time.perf_counter() - started:.1f} s; {inputs.tokens} tokens", flush=True)

    def measure(label: str, run: Callable[[], Any], flops_per_run: float, reps: int = args.reps) -> float:
        first = timed(device, run)
        times = [timed(device, run) for _ in range(reps)]
        mean = statistics.mean(times)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
        report.add(label, first_s=first, mean_s=mean, min_s=min(times), runs=times,
                   tflops=flops_per_run / mean / 1e12, peak_gib=peak)  # fmt: skip
        return mean

    with torch.inference_mode():
        decode_latents = torch.randn_like(inputs.latents).to(vae.dtype)
        decode = measure("VAE decode", lambda: vae.decode(decode_latents, return_dict=False), 0.0, reps=1)
        stock: dict[str, float] = {}
        for backend in args.backends:
            try:
                with attention_backend(backend):
                    stock[backend] = measure(
                        f"stock eager step ({backend})", lambda: inputs.guided_step(expert), flops
                    )
            except Exception as error:  # noqa: BLE001 - a backend this card or build lacks
                report.add(f"stock eager step ({backend})", error=f"{type(error).__name__}: {error}")
        baseline = stock.get("native") or min(stock.values())
        eager_reference = inputs.forward(expert, inputs.positive)
        if args.flash:
            from likeness.generator.model.kernels import flash_kernel_support, use_flash_kernel

            report.data["flash_support"] = flash_kernel_support(device)
            kernel = use_flash_kernel(args.flash, device)
            report.data["flash_kernel"] = kernel or "PyTorch's own"
            if kernel and not args.no_flash_stock:
                with attention_backend("native"):
                    label = f"stock eager step (native, SDPA on {kernel})"
                    measure(label, lambda: inputs.guided_step(expert), flops)
                    output = inputs.forward(expert, inputs.positive)
                report.add(f"{kernel} vs PyTorch flash output",
                           relative_difference=relative_difference(output, eager_reference))  # fmt: skip
                del output

        _adapter, installed, tokens, strengths = with_identity(expert, config, device, dtype)
        backend = args.backend
        with attention_backend(backend), installed.context.use(tokens, strengths, inputs.negative):
            eager_ours = inputs.forward(expert, inputs.positive)
        report.data["summary"] = {"stock_step_s": baseline, "decode_s": decode}
        if not args.fp8_only:
            with attention_backend(backend), installed.context.use(tokens, strengths, inputs.negative):
                expert.compile_repeated_blocks(fullgraph=True)
                label = f"ours final step (adapter {STRENGTH}, compiled, {backend})"
                final = measure(label, lambda: inputs.guided_step(expert), flops)
                compiled_output = inputs.forward(expert, inputs.positive)
                difference = relative_difference(compiled_output, eager_ours)
                report.add("ours compiled vs eager output", relative_difference=difference)

                def draft_clip() -> None:
                    for _ in range(4):
                        inputs.forward(expert, inputs.positive)
                    vae.decode(decode_latents, return_dict=False)

                draft = measure(
                    "draft clip (4 steps, no guidance, decode)", draft_clip, 4 * flops / 2, reps=1
                )
            if args.tuned or args.fused:
                # Inductor's coordinate-descent tuning of the generated kernels' launch settings (the
                # norms, modulations and the rest around the matrix products and attention), and
                # (--fused) self-attention's q, k and v as one matrix product (diffusers'
                # ``fuse_projections``), each compiled afresh.
                import torch._inductor.config as inductor_config

                variants = [("tuned kernels", False)] if args.tuned else []
                if args.fused:
                    variants.append(("fused qkv" + (", tuned kernels" if args.tuned else ""), True))
                for name, fuse in variants:
                    torch._dynamo.reset()
                    inductor_config.coordinate_descent_tuning = args.tuned
                    if fuse:
                        fuse_self_attention(expert)
                    identity = installed.context.use(tokens, strengths, inputs.negative)
                    with attention_backend(backend), identity:
                        expert.compile_repeated_blocks(fullgraph=True)
                        label = f"ours final step (adapter {STRENGTH}, compiled, {name}, {backend})"
                        variant = measure(label, lambda: inputs.guided_step(expert), flops)
                        variant_output = inputs.forward(expert, inputs.positive)
                    inductor_config.coordinate_descent_tuning = False
                    key = name.replace(", ", "_").replace(" ", "_")
                    difference = relative_difference(variant_output, eager_ours)
                    report.add(f"ours {name} vs eager output", relative_difference=difference)
                    report.data["summary"][f"{key}_final_step_s"] = variant
                    del variant_output
                    report.save()
            clip_final = args.steps * final + decode
            clip_stock = args.steps * baseline + decode
            computed = fast_computed_fraction(args.steps)
            clip_fast = computed * args.steps * final + decode
            report.data["summary"].update(
                final_step_s=final, final_vs_stock=baseline / final, stock_clip_s=clip_stock,
                final_clip_s=clip_final, draft_clip_s=draft, draft_vs_final_clip=draft / clip_final,
                fast_computed_passes_fraction=computed, fast_clip_projected_s=clip_fast,
            )  # fmt: skip
            report.save()
            print(
                f"per step: stock {baseline:.3f} s, ours final {final:.3f} s ({baseline / final:.2f}x); "
                f"per clip ({args.steps} steps + decode): stock {clip_stock:.1f} s, "
                f"final {clip_final:.1f} s, "
                f"draft {draft:.1f} s (1/{clip_final / draft:.1f} of final), "
                f"fast {clip_fast:.1f} s (projected: {computed:.3f} of the passes computed)",
                flush=True,
            )

        if args.fp8 or args.fp8_only:
            try:
                from torchao.quantization import (
                    Float8DynamicActivationFloat8WeightConfig,
                    PerRow,
                    quantize_,
                )

                torch._dynamo.reset()
                quantize_(expert.blocks, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
                expert.compile_repeated_blocks(fullgraph=True)
                with attention_backend(backend), installed.context.use(tokens, strengths, inputs.negative):
                    fp8 = measure(
                        f"ours FP8 step (compiled, {backend})", lambda: inputs.guided_step(expert), flops
                    )
                    fp8_output = inputs.forward(expert, inputs.positive)
                report.data["summary"]["fp8_step_s"] = fp8
                report.data["summary"]["fp8_vs_stock"] = baseline / fp8
                report.add(
                    "ours FP8 vs eager output",
                    relative_difference=relative_difference(fp8_output, eager_ours),
                )
            except Exception as error:  # noqa: BLE001 - reported, and the other results stand
                report.add("ours FP8 step", error=f"{type(error).__name__}: {error}")
        del eager_reference
    return report, decode


def fresh_processes(args: argparse.Namespace, report: Report, decode: float) -> None:
    """The runs that start fresh processes, once this one's model is gone from the card (compiled code
    holds the weights it was traced with until dynamo lets go of it)."""
    import gc

    import torch

    torch._dynamo.reset()
    gc.collect()
    if torch.cuda.is_available() and not args.tiny:
        torch.cuda.empty_cache()
        print(f"this process now holds {torch.cuda.memory_allocated() / 2**30:.2f} GiB", flush=True)
    if args.restart_check:
        command = [sys.executable, str(Path(__file__).resolve()), "--restart-probe", *probe_args(args)]
        probe = subprocess.run(command, capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            report.add("restart", error=probe.stderr[-2000:])
        else:
            values = json.loads(probe.stdout.strip().splitlines()[-1])
            first, warm = values["first_s"], values["warm_s"]
            first_clip = first + (args.steps - 1) * warm + decode
            warm_clip = args.steps * warm + decode
            report.add(
                "restart (fresh process, same inductor cache)",
                **values,
                first_vs_warm=first / warm,
                first_clip_vs_warm_clip=first_clip / warm_clip,
            )
    if args.replica:
        replica(args, report, decode)


def replica(
    args: argparse.Namespace,
    report: Report,
    decode_s: float | None = None,
    *,
    label: str = "fresh process, same inductor cache",
    fast: bool = True,
) -> None:
    """Run the --replica probe in a fresh process and report what it measured. Without ``decode_s`` (no
    decode measured in this process) the fast clip's time after its last step stands for it."""
    command = [sys.executable, str(Path(__file__).resolve()), "--replica-probe", *probe_args(args)]
    probe = subprocess.run([*command, *([] if fast else ["--no-fast-clip"])], capture_output=True, text=True)
    if probe.returncode != 0:
        report.add(f"replica ({label})", error=probe.stderr[-3000:])
        return
    values = json.loads(probe.stdout.strip().splitlines()[-1])
    report.add(f"replica start: build, compile, warm-up ({label})",
               build_s=values["build_s"], compile_and_warm_up_s=values["warm_up_s"],
               flash_kernel=values["flash_kernel"] or "PyTorch's own")  # fmt: skip
    first, warm = values["first_request_s"], values["warm_request_s"]
    report.add(f"first request after the start ({values['request_steps']} final steps) vs the same again "
               f"({label})", first_s=first, warm_s=warm, first_vs_warm=first / warm)  # fmt: skip
    report.data.setdefault("summary", {})[f"first_request_vs_warm ({label})"] = first / warm
    if not fast:
        report.save()
        return
    final_step = values["final_step_s"]
    fast_clip = values["fast_clip_s"]
    if decode_s is None:
        decode_s = fast_clip - sum(values["fast_steps_s"])
    final_clip = args.steps * final_step + decode_s
    report.add(f"fast clip ({args.steps} steps with MagCache, decode; measured end to end)",
               clip_s=fast_clip, computed_passes_fraction=values["fast_computed_fraction"],
               skipped_passes=values["fast_skipped_passes"], step_s=values["fast_steps_s"],
               peak_gib=values["peak_gib"])  # fmt: skip
    report.data["summary"].update(
        replica_final_step_s=final_step, replica_final_clip_s=final_clip, fast_clip_s=fast_clip,
        fast_vs_final_clip=fast_clip / final_clip, first_request_vs_warm=first / warm,
    )  # fmt: skip
    report.save()
    print(
        f"replica: final step {final_step:.3f} s, final clip {final_clip:.1f} s (computed), fast clip "
        f"{fast_clip:.1f} s measured ({fast_clip / final_clip:.2f} of final); first request after start "
        f"{first / warm:.2f}x a warm one",
        flush=True,
    )


def replica_only(args: argparse.Namespace) -> None:
    """--replica-only: a replica's cold start (an empty inductor cache), its requests and a fast clip,
    then a restart on the cache the first start left, and its first request."""
    import diffusers
    import torch

    hardware = "CPU" if args.tiny else torch.cuda.get_device_name(0)
    report = Report(args.json, {"hardware": hardware, "resolution": args.resolution, "frames": args.frames,
                                "torch": torch.__version__, "diffusers": diffusers.__version__,
                                "steps_per_clip": args.steps, "summary": {}})  # fmt: skip
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="likeness-inductor-")
    replica(args, report, label="cold: an empty inductor cache")
    replica(args, report, label="restart: the cache the first start left", fast=False)


def replica_probe(args: argparse.Namespace) -> int:
    """A replica as serving builds one (both experts, adapter, VAE; the text encoder cut to 2 layers),
    compiled and warmed up, then requests through :meth:`WanVideoModel.denoise`."""
    import torch
    from generator_gpu import build_pipeline

    from likeness.generator.model import fastcache
    from likeness.generator.model.adapter import IdentityAdapter
    from likeness.generator.model.loading import randomize_values
    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.shots import CharacterConditioning, ShotRequest

    device, dtype, (frames, height, width), _ = sizes(args)
    started = now(device)
    pipeline = build_pipeline(args.tiny, device, dtype, args.layers, text_layers=2)
    torch.manual_seed(2)
    with building_on(device, dtype):
        adapter = IdentityAdapter.for_transformer(pipeline.transformer)
    randomize_values(adapter)
    model = WanVideoModel(
        pipeline, adapter=adapter, model_id="random A14B architecture", random_weights=True,
        fast_ratios=fastcache.expert_ratios(),
    )  # fmt: skip
    build_s = now(device) - started
    started = now(device)
    kernel = model.optimise(compile=True, flash_attention=args.flash)
    model.warm_up(height=height, width=width, num_frames=frames)
    warm_up_s = now(device) - started

    unit = np.full(512, 512**-0.5, dtype=np.float32)

    def request(preset: str, steps: int) -> ShotRequest:
        return ShotRequest(
            request_id=preset, prompt="a person walks through a market", negative_prompt="", seed=7,
            num_frames=frames, height=height, width=width, num_inference_steps=steps,
            guidance_scale=GUIDANCE, characters=(CharacterConditioning("c", unit, STRENGTH),), preset=preset,
        )  # fmt: skip

    def run(shot: ShotRequest, output_type: str) -> tuple[float, list[float]]:
        marks = [now(device)]
        model.denoise([shot], on_step=lambda *_: marks.append(now(device)), output_type=output_type)
        ended = now(device)
        return ended - marks[0], [later - earlier for earlier, later in itertools.pairwise(marks)]

    # Each stage's values are printed as they come (the last line holds them all), so a run stopped
    # part-way still says what it measured.
    values: dict[str, Any] = {"build_s": build_s, "warm_up_s": warm_up_s, "flash_kernel": kernel}
    print(json.dumps(values), flush=True)
    request_steps = 3
    first, _ = run(request("final", request_steps), "latent")
    warm, warm_steps = run(request("final", request_steps), "latent")
    values.update(
        request_steps=request_steps, first_request_s=first, warm_request_s=warm,
        final_step_s=statistics.mean(warm_steps[1:]),
    )  # fmt: skip
    print(json.dumps(values), flush=True)
    if not args.no_fast_clip:
        fast, fast_steps = run(request("fast", args.steps), "np")
        skipped = fastcache.skipped_passes(pipeline)
        values.update(
            fast_clip_s=fast, fast_steps_s=fast_steps, fast_skipped_passes=skipped,
            fast_computed_fraction=(2 * args.steps - sum(skipped.values())) / (2 * args.steps),
        )  # fmt: skip
    values["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    print(json.dumps(values))
    return 0


def fast_computed_fraction(steps: int) -> float:
    """The share of expert passes the fast preset computes in a ``steps``-step clip with A14B's scheduler
    (flow shift 12, boundary 0.875). MagCache decides from the step counter and its curve alone, never
    from the weights, so the tiny model on the CPU with that scheduler skips exactly what the A14B
    experts would; a fast clip's time is projected from it and the measured final step."""
    import dataclasses

    from diffusers import UniPCMultistepScheduler

    from likeness.generator.model import fastcache
    from likeness.generator.model.video import WanVideoModel
    from likeness.generator.shots import CharacterConditioning, ShotRequest

    model = WanVideoModel.tiny(seed=0, draft=False, vace=False)
    pipeline = model.pipeline
    pipeline.scheduler = UniPCMultistepScheduler.from_config(pipeline.scheduler.config, flow_shift=FLOW_SHIFT)
    unit = np.full(512, 512**-0.5, dtype=np.float32)
    request = ShotRequest(
        request_id="schedule", prompt="a person", negative_prompt="", num_frames=5, height=32, width=32,
        seed=0, num_inference_steps=steps, guidance_scale=GUIDANCE,
        characters=(CharacterConditioning("c", unit, STRENGTH),), preset="fast",
    )  # fmt: skip
    model.denoise([dataclasses.replace(request)], output_type="latent")
    skipped = sum(fastcache.skipped_passes(pipeline).values())
    return (2 * steps - skipped) / (2 * steps)


def probe_args(args: argparse.Namespace) -> list[str]:
    values = ["--resolution", args.resolution, "--frames", str(args.frames), "--backend", args.backend]
    if args.tiny:
        values.append("--tiny")
    if args.layers:
        values += ["--layers", str(args.layers)]
    if args.flash:
        values += ["--flash", args.flash]
    return [*values, "--steps", str(args.steps)]


def restart_probe(args: argparse.Namespace) -> int:
    """A replica starting again: build, install the adapter, compile, then time the first two steps."""
    import torch
    from diffusers.models.attention_dispatch import attention_backend

    device, dtype, (frames, height, width), config = sizes(args)
    started = time.perf_counter()
    expert = build_expert(config, device, dtype)
    _, installed, tokens, strengths = with_identity(expert, config, device, dtype)
    inputs = Inputs(config, (frames, height, width), device, dtype)
    build_s = time.perf_counter() - started
    if args.flash:
        from likeness.generator.model.kernels import use_flash_kernel

        use_flash_kernel(args.flash, device)
    with torch.inference_mode(), attention_backend(args.backend):
        with installed.context.use(tokens, strengths, inputs.negative):
            expert.compile_repeated_blocks(fullgraph=True)
            first = timed(device, lambda: inputs.guided_step(expert))
            warm = timed(device, lambda: inputs.guided_step(expert))
    print(json.dumps({"build_s": build_s, "first_s": first, "warm_s": warm}))
    return 0


def _rank_step(rank: int, world: int, args: argparse.Namespace, init: str, queue: Any) -> None:
    """One rank of the --gpus run: the same expert on every rank, context + CFG parallel, timed steps."""
    use_checkout()
    import torch
    import torch.distributed as dist

    from likeness.generator.model.parallel import ParallelLayout, enable

    tiny = args.tiny
    device = torch.device("cpu") if tiny else torch.device("cuda", rank)
    if not tiny:
        torch.cuda.set_device(device)
    dist.init_process_group("gloo" if tiny else "nccl", init_method=init, rank=rank, world_size=world)
    dtype = torch.float32 if tiny else torch.bfloat16
    height, width = (64, 64) if tiny else RESOLUTIONS[args.resolution]
    config = transformer_config(tiny, args.layers)
    expert = build_expert(config, device, dtype)
    inputs = Inputs(config, (9 if tiny else args.frames, height, width), device, dtype)
    layout = ParallelLayout.plan(world, config["num_attention_heads"], cfg_parallel=not args.no_cfg_parallel)

    class Experts:
        transformer = expert
        transformer_2 = None

    runtime = enable([Experts()], layout, device) if world > 1 else None
    with torch.inference_mode():
        if args.compile:
            expert.compile_repeated_blocks(fullgraph=True)

        def step() -> Any:
            if runtime is None:
                return inputs.guided_step(expert)
            with runtime.cfg.use(inputs.positive, inputs.negative):
                return inputs.guided_step(expert)

        output = step()  # warm-up (and compilation)
        times = []
        for _ in range(args.reps):
            dist.barrier() if world > 1 else None
            times.append(timed(device, step))
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    if rank == 0:
        # A NumPy copy travels by value; a tensor would travel as a shared-memory handle that is gone
        # once this process exits, racing the parent's read.
        output_copy = output.float().cpu().numpy()
        queue.put({"layout": layout.describe(), "times": times, "peak_gib": peak, "output": output_copy})
    dist.barrier()
    dist.destroy_process_group()


def many_gpus(args: argparse.Namespace) -> int:
    import multiprocessing

    import torch

    counts = [int(count) for count in args.gpus.split(",")]
    hardware = "CPU ranks (gloo)" if args.tiny else torch.cuda.get_device_name(0)
    report = Report(args.json, {"hardware": hardware, "resolution": args.resolution, "gpus": counts})
    context = multiprocessing.get_context("spawn")
    baseline: dict[str, Any] | None = None
    for world in counts:
        queue = context.Queue()
        with tempfile.TemporaryDirectory() as workdir:
            init = f"file://{workdir}/rendezvous"
            ranks = [
                context.Process(target=_rank_step, args=(rank, world, args, init, queue))
                for rank in range(world)
            ]
            for process in ranks:
                process.start()
            result = queue.get()
            for process in ranks:
                process.join()
        mean = statistics.mean(result["times"])
        result["output"] = torch.from_numpy(result["output"])
        if baseline is None:
            baseline = {"mean": mean, "output": result["output"]}
        report.add(
            f"{world} rank(s): {result['layout']}",
            mean_s=mean, runs=result["times"], speedup=baseline["mean"] / mean, peak_gib=result["peak_gib"],
            relative_difference_vs_first=relative_difference(result["output"], baseline["output"]),
            clip_s=args.steps * mean,
        )  # fmt: skip
    print("weights are random: only the timings and differences mean anything")
    return 0


def engine_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", choices=sorted(RESOLUTIONS), default="480p")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument(
        "--steps", type=int, default=40, help="steps of a final clip (for the per-clip figure)"
    )
    parser.add_argument("--reps", type=int, default=3, help="timed steps after the warm-up")
    parser.add_argument("--backends", default="native", help="comma-separated attention backends for stock")
    parser.add_argument("--backend", default="native", help="the attention backend of ours")
    parser.add_argument(
        "--flash", default="", help="after stock: SDPA's flash kernel for the rest (FA4, FA3, auto)"
    )
    parser.add_argument(
        "--no-flash-stock", action="store_true", help="with --flash, do not also time stock on that kernel"
    )
    parser.add_argument("--fp8", action="store_true", help="also torchao float8 row-wise linears")
    parser.add_argument("--tuned", action="store_true", help="also final with inductor's tuned kernels")
    parser.add_argument("--fused", action="store_true", help="also final with self-attention's q, k, v fused")
    parser.add_argument("--fp8-only", action="store_true", help="stock and FP8 only (no bf16 compile, draft)")
    parser.add_argument("--restart-check", action="store_true", help="time a fresh process's first step")
    parser.add_argument("--restart-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--replica", action="store_true", help="a fresh whole replica: start, first request, a fast clip"
    )
    parser.add_argument(
        "--replica-only", action="store_true", help="only the replica: a cold start, a restart, a fast clip"
    )
    parser.add_argument("--replica-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-fast-clip", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gpus", help="comma-separated rank counts for the scaling run, e.g. 1,2,4,8")
    parser.add_argument("--no-cfg-parallel", action="store_true", help="context parallel only")
    parser.add_argument("--compile", action="store_true", help="compile the blocks in the scaling run")
    parser.add_argument("--tiny", action="store_true", help="the tiny model on the CPU (a code-path check)")
    parser.add_argument("--layers", type=int, help="A14B widths with this many layers (a code-path check)")
    parser.add_argument("--json", type=Path, help="results, rewritten after each measurement")
    args = parser.parse_args(argv)
    args.backends = [backend for backend in args.backends.split(",") if backend]
    use_checkout()
    if args.tiny:
        os.environ.setdefault(
            "TORCHINDUCTOR_CACHE_DIR", str(Path(tempfile.gettempdir()) / "likeness-inductor")
        )
    if args.restart_probe:
        return restart_probe(args)
    if args.replica_probe:
        return replica_probe(args)
    if args.gpus:
        return many_gpus(args)
    if args.replica_only:
        replica_only(args)
        print("weights are random: frames would be noise; only the timings mean anything")
        return 0
    report, decode = one_gpu(args)
    fresh_processes(args, report, decode)
    print("weights are random: frames would be noise; only the timings mean anything")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    raise SystemExit(engine_main(sys.argv[1:]))

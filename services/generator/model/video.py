"""The video model behind the Serve deployment: Wan 2.2's two experts, VACE references, identity adapter.

:class:`WanVideoModel` turns :class:`~likeness.generator.shots.ShotRequest` into frames with diffusers'
two-expert ``WanPipeline`` (text to video) or ``WanVACEPipeline`` (when a character brings reference
photos), the identity adapter installed on both experts of each. It is blocking and runs one request at a
time (a lock): the identity adapter keeps the request's identities on its processors.

Weights: :meth:`WanVideoModel.from_pretrained` reads a diffusers pipeline directory (``model_index.json``)
with ``local_files_only``; a ``vace/`` pipeline directory beside it adds the reference-photo path, and an
``identity_adapter.safetensors`` the trained adapter. :meth:`WanVideoModel.tiny` builds the same classes
with random weights, for tests and CPUs; everything it makes says ``random_weights``.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from likeness.generator.model import EXPERTS, fastcache
from likeness.generator.model.adapter import (
    IdentityAdapter,
    InstalledAdapter,
    identity_bank,
    install,
)
from likeness.generator.model.loading import load_model, save_model, tiny_model
from likeness.generator.model.parallel import ParallelLayout, ParallelRuntime
from likeness.generator.model.regions import identity_regions
from likeness.generator.model.tiny import TEXT_LENGTH
from likeness.generator.model.vace import decode_image, grey_png, vace_noise
from likeness.generator.shots import (
    IDENTITY_DIM,
    CharacterConditioning,
    ModelInfo,
    ShotFrames,
    ShotRequest,
    SynthesisRequest,
)

#: Called after every denoising step with (steps done, total steps).
StepCallback = Callable[[int, int], None]


class DenoisingInterrupted(Exception):
    """Denoising stopped because the caller asked it to; ``steps_done`` steps had finished."""

    def __init__(self, steps_done: int) -> None:
        super().__init__(f"denoising interrupted after {steps_done} steps")
        self.steps_done = steps_done


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """The pipeline's float frames in [0, 1] as uint8."""
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


class WanVideoModel:
    """Wan 2.2 two-expert text-to-video (+ VACE references) with the identity adapter on both experts."""

    def __init__(
        self,
        pipeline: Any,
        *,
        vace_pipeline: Any = None,
        adapter: IdentityAdapter | None = None,
        model_id: str,
        adapter_id: str = "",
        random_weights: bool,
        synthesis_steps: int = 30,
        draft_lora: dict[str, Any] | None = None,
        fast_ratios: dict[str, list[float]] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.synthesis_steps = synthesis_steps
        self.vace_pipeline = vace_pipeline
        self.adapter = adapter
        self.installed: list[InstalledAdapter] = []
        if adapter is not None:
            first = install(adapter, self._experts(pipeline))
            self.installed.append(first)
            if vace_pipeline is not None:
                self.installed.append(install(adapter, self._experts(vace_pipeline), first.context))
        for each in (pipeline, vace_pipeline):
            if each is not None:
                each.set_progress_bar_config(disable=True)
        #: The fast preset's MagCache curves per expert (fastcache.py); None: the deployment has no fast.
        #: Its hooks go on the text-to-video experts now, before parallelism and compilation wrap them.
        self.fast_ratios = fast_ratios
        if fast_ratios is not None:
            for expert in self._experts(pipeline).values():
                fastcache.install(expert)
        self.info = ModelInfo(
            model_id=model_id,
            adapter_id=adapter_id if adapter is not None else "",
            random_weights=random_weights,
            supports_reference_images=vace_pipeline is not None,
            presets=("final", *(("draft",) if draft_lora else ()), *(("fast",) if fast_ratios else ())),
        )
        #: Where the draft LoRA loaded into both experts of ``pipeline`` came from, per expert (its
        #: files, or state dicts in its format); None: the deployment has none (see draft.py).
        self.draft_sources = draft_lora
        self.draft_lora = draft_lora is not None
        self._lock = threading.Lock()
        #: While :meth:`calibrate_fast` runs: the step cache's hooks record instead of skipping.
        self._calibrating = False
        #: Set on each rank of a replica that spans several (``enable_parallelism``).
        self.parallel: ParallelRuntime | None = None

    def enable_parallelism(self, layout: ParallelLayout, device: torch.device) -> None:
        """Context + CFG parallelism over ``layout``'s ranks (torch.distributed already initialised)."""
        from likeness.generator.model.parallel import enable

        self.parallel = enable(self._pipelines(), layout, device, self.identity_context)
        self.info = replace(self.info, parallel_layout=layout.describe())

    def _pipelines(self) -> list[Any]:
        return [each for each in (self.pipeline, self.vace_pipeline) if each is not None]

    def optimise(
        self,
        *,
        compile: bool = False,
        fp8: bool = False,
        attention_backend: str | None = None,
        flash_attention: str = "",
        tuned_kernels: bool = False,
    ) -> str:
        """Speed settings for every expert (both experts, VACE's too): the flash-attention kernel under
        PyTorch's SDPA (``flash_attention``, see kernels.py), an attention backend from diffusers'
        dispatcher, torchao float8 dynamic row-wise linears in the blocks, and regional compilation of
        the repeated blocks (``fullgraph``: the identity adapter adds no graph break). ``tuned_kernels``:
        inductor tunes the launch settings of the kernels it generates (coordinate descent), for this
        whole process, as compilation happens at the first call (the warm-up); it lengthens a cold
        compilation and the inductor cache keeps the result. Call it after :meth:`enable_parallelism`
        and after LoRA weights are fused. Returns the flash kernel in use ("" for PyTorch's own)."""
        experts: list[Any] = [
            expert for pipeline in self._pipelines() for expert in self._experts(pipeline).values()
        ]
        kernel = ""
        if compile and tuned_kernels:
            import torch._inductor.config as inductor_config

            inductor_config.coordinate_descent_tuning = True
        if flash_attention:
            from likeness.generator.model.kernels import use_flash_kernel

            kernel = use_flash_kernel(flash_attention, next(experts[0].parameters()).device)
        for expert in experts:
            if attention_backend:
                expert.set_attention_backend(attention_backend)
            if fp8:
                from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

                config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
                for blocks in ("blocks", "vace_blocks"):
                    if hasattr(expert, blocks):
                        quantize_(getattr(expert, blocks), config)
            if compile:
                if self.fast_ratios is not None and expert in self._experts(self.pipeline).values():
                    fastcache.compile_under_hooks(expert)  # beneath the step cache's hooks
                else:
                    expert.compile_repeated_blocks(fullgraph=True)
        return kernel

    def warm_up(self, *, height: int, width: int, num_frames: int) -> None:
        """Two guided steps at this size (one per expert, with an identity, and through VACE when it is
        loaded), so that compilation and kernel selection happen before the first request."""
        unit = np.full(IDENTITY_DIM, IDENTITY_DIM**-0.5, dtype=np.float32)
        strength = 0.8 if self.adapter is not None else 0.0
        reference = (grey_png(height, width),) if self.vace_pipeline is not None else ()
        for images in [(), reference] if reference else [()]:
            character = CharacterConditioning("warm-up", unit, strength, reference_images=images)
            shot = ShotRequest(
                request_id="warm-up",
                prompt="warm-up",
                negative_prompt="",
                num_frames=num_frames,
                height=height,
                width=width,
                seed=0,
                num_inference_steps=2,
                guidance_scale=5.0,
                characters=(character,),
            )
            self.denoise([shot], output_type="latent")

    @staticmethod
    def _experts(pipeline: Any) -> dict[str, torch.nn.Module]:
        return {name: getattr(pipeline, name) for name in EXPERTS}

    @property
    def identity_context(self) -> Any:
        return self.installed[0].context if self.installed else None

    # --- construction (loading.py): the tiny random model, a local directory's weights, and back ----

    tiny = classmethod(tiny_model)
    from_pretrained = classmethod(load_model)
    save_pretrained = save_model

    # --- generation ----------------------------------------------------------------------------

    def generate(
        self,
        request: ShotRequest,
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ShotFrames:
        """One shot. ``should_stop`` is checked after every step (:class:`DenoisingInterrupted`)."""
        (frames,) = self.generate_batch([request], on_step, should_stop)
        return frames

    def generate_batch(
        self,
        requests: Sequence[ShotRequest],
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[ShotFrames]:
        """Several shots in one batch, each with its own prompt, seed and identities.

        They must agree on frames, size, steps and guidance, and either all or none bring reference
        photos (the same number each).
        """
        if not requests:
            return []
        videos = self.denoise(requests, on_step, should_stop)
        return [
            ShotFrames(frames=to_uint8(video), seed=request.seed, model=self.info)
            for video, request in zip(videos, requests, strict=True)
        ]

    def denoise(
        self,
        requests: Sequence[ShotRequest],
        on_step: StepCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
        output_type: str = "np",
    ) -> Any:
        """The pipeline's own output for a batch: float frames in [0, 1] (``"np"``) or ``"latent"``."""
        first = requests[0]
        shape = (first.num_frames, first.height, first.width, first.num_inference_steps, first.guidance_scale)
        for request in requests[1:]:
            if (
                request.num_frames,
                request.height,
                request.width,
                request.num_inference_steps,
                request.guidance_scale,
            ) != shape:
                raise ValueError("a batch's shots must share frames, size, steps and guidance")
        references = [
            [image for c in request.characters for image in c.reference_images] for request in requests
        ]
        use_vace = any(references)
        if use_vace:
            if self.vace_pipeline is None:
                raise ValueError("this model has no VACE weights: reference photos cannot be used")
            if len({len(each) for each in references}) != 1:
                raise ValueError("every shot of a batch must bring the same number of reference photos")
        if self.adapter is None and any(c.identity_strength for r in requests for c in r.characters):
            raise ValueError("this model has no identity adapter: identity_strength must be 0")
        if len({request.preset for request in requests}) != 1:
            raise ValueError("a batch's shots must share their preset")
        draft = first.preset == "draft"
        if first.preset not in self.info.presets:
            raise ValueError(f"this deployment does not serve the {first.preset!r} preset")
        if first.preset != "final" and use_vace:
            raise ValueError(
                f"the {first.preset} preset does not run the VACE experts: reference photos need final"
            )
        pipeline = self.vace_pipeline if use_vace else self.pipeline
        total = first.num_inference_steps

        parallel = self.parallel

        def step_end(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            if on_step is not None:
                on_step(index + 1, total)
            if index + 1 < total:
                stop = should_stop is not None and should_stop()
                if parallel is not None:
                    stop = parallel.agree_to_stop(stop)
                if stop:
                    raise DenoisingInterrupted(index + 1)
            return {}

        if parallel is not None and parallel.rank != 0 and output_type != "latent":
            # Every rank ends with the same latents; only rank 0's frames are returned.
            output_type = "latent"

        generators = [torch.Generator("cpu").manual_seed(request.seed) for request in requests]
        extra: dict[str, Any] = {"generator": generators}
        if use_vace:
            extra["reference_images"] = [[decode_image(image) for image in each] for each in references]
            extra["conditioning_scale"] = max(
                c.reference_conditioning_scale for r in requests for c in r.characters if c.reference_images
            )
            # WanVACEPipeline takes one generator only: draw each sample's noise from its own seed here.
            extra["generator"] = None
            extra["latents"] = vace_noise(pipeline, first, len(references[0]), generators)
        with self._lock, torch.inference_mode():
            if self.draft_lora and not use_vace:
                # PEFT computes exactly the base layers while the adapter is disabled.
                pipeline.enable_lora() if draft else pipeline.disable_lora()
            if self.fast_ratios is not None and not use_vace:
                # Every request, on every rank: reset the cache, then on for fast, off otherwise.
                ratios = self.fast_ratios if first.preset == "fast" else None
                fastcache.configure(pipeline, total, ratios, calibrate=self._calibrating)
            device = pipeline._execution_device
            guided = first.guidance_scale > 1.0
            prompt_embeds, negative_embeds = pipeline.encode_prompt(
                prompt=[request.prompt for request in requests],
                negative_prompt=[request.negative_prompt for request in requests],
                do_classifier_free_guidance=guided,
                num_videos_per_prompt=1,
                max_sequence_length=TEXT_LENGTH,
                device=device,
            )
            expert_dtype = pipeline.transformer.dtype
            prompt_embeds = prompt_embeds.to(expert_dtype)
            if negative_embeds is not None:
                negative_embeds = negative_embeds.to(expert_dtype)
            cfg = parallel.cfg.use(prompt_embeds, negative_embeds) if parallel is not None else nullcontext()
            with self._identities(requests, negative_embeds, device, expert_dtype), cfg:
                output = pipeline(
                    prompt_embeds=prompt_embeds,
                    negative_prompt_embeds=negative_embeds,
                    height=first.height,
                    width=first.width,
                    num_frames=first.num_frames,
                    num_inference_steps=total,
                    guidance_scale=first.guidance_scale,
                    output_type=output_type,
                    callback_on_step_end=step_end,
                    **extra,
                )
        return output.frames

    def calibrate_fast(self, requests: Sequence[ShotRequest]) -> dict[str, list[float]]:
        """The fast preset's MagCache curve measured on this checkpoint (fastcache.py): each ``final``
        request (all with the same steps) runs with every step computed while the step cache's hooks
        record, per expert and step, the ratio of the blocks' residual to the last step's; returns the
        mean per expert and step, as ``fast_cache.json`` holds it. What the model serves is unchanged."""
        if self.fast_ratios is None:
            raise ValueError("this model was built without the fast preset's step cache")
        if self.parallel is not None:
            raise ValueError("calibrate in one process: a rank's ratios would be those of its shard alone")
        if any(request.preset != "final" for request in requests):
            raise ValueError("calibration runs the final preset")
        runs = []
        self._calibrating = True
        try:
            for request in requests:
                # diffusers prints each expert's ratios when its last step ends; they are returned instead.
                with contextlib.redirect_stdout(io.StringIO()):
                    self.denoise([request], output_type="latent")
                runs.append(fastcache.recorded(self.pipeline))
        finally:
            self._calibrating = False
            fastcache.configure(self.pipeline, 1, None)
        return fastcache.mean_curve(runs)

    def _identities(
        self, requests: Sequence[ShotRequest], negative_embeds: Any, device: Any, dtype: torch.dtype
    ) -> Any:
        identities = [
            [
                (torch.from_numpy(np.asarray(c.z_id, dtype=np.float32)), c.identity_strength)
                for c in r.characters
            ]
            for r in requests
        ]
        if self.adapter is None or not any(strength for each in identities for _, strength in each):
            return nullcontext()
        tokens, strengths = identity_bank(self.adapter, identities, device, dtype)
        regions = identity_regions([[c.region for c in r.characters] for r in requests])
        return self.identity_context.use(tokens, strengths, negative_embeds, regions)

    def synthesize(self, request: SynthesisRequest) -> ShotFrames:
        """``count`` single frames of a character described in text (no identity), seeds seed, seed+1, ..."""
        shots = [
            ShotRequest(
                request_id=f"{request.request_id}/{index}",
                prompt=request.description,
                negative_prompt="",
                num_frames=1,
                height=request.height,
                width=request.width,
                seed=request.seed + index,
                num_inference_steps=self.synthesis_steps,
                guidance_scale=SYNTHESIS_GUIDANCE,
            )
            for index in range(request.count)
        ]
        results = self.generate_batch(shots)
        frames = np.concatenate([result.frames for result in results], axis=0)
        return ShotFrames(frames=frames, seed=request.seed, model=self.info)


#: Classifier-free guidance for SynthesizeReference's stills.
SYNTHESIS_GUIDANCE = 5.0


def build_tiny(device: torch.device, seed: int = 0, heads: int = 2) -> WanVideoModel:
    """The tiny random model for one rank of a replica (a picklable builder; the tiny model is CPU-only)."""
    if device.type != "cpu":
        raise ValueError("the tiny model runs on the CPU")
    return WanVideoModel.tiny(seed, heads=heads)

"""What the generator's job workers send to the video model, and what comes back.

The model runs in a Ray Serve deployment (``likeness.generator.serve_app``, deployment ``VideoModel``);
the job workers call it through a streaming ``DeploymentHandle``. Everything here crosses that process
boundary, so it is plain data: frozen dataclasses of numbers, strings, bytes and numpy arrays.

The deployment exposes:

- ``generate(request: ShotRequest)`` — a streaming method: it yields a :class:`StepProgress` after every
  denoising step (at most one per ``progress_interval_s``, and always the last) and finally one
  :class:`ShotFrames`. Cancelling the handle response
  (``response.cancel()``) sets the request's interrupt flag; denoising stops at the next step and the
  stream ends with ``asyncio.CancelledError`` on the caller's side.
- ``synthesize(request: SynthesisRequest) -> ShotFrames`` — single frames for SynthesizeReference.
- ``describe() -> ModelInfo`` — which model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Length of a face identity vector (ArcFace, L2-normalised).
IDENTITY_DIM = 512


@dataclass(frozen=True)
class ModelInfo:
    """The loaded model, as reported in jobs and provenance manifests."""

    #: Base model id, for example "Wan2.2-T2V-A14B", or "tiny-wan2.2-random" for the test model.
    model_id: str
    #: Identity adapter id (weights file or version); "" when the deployment has none.
    adapter_id: str
    #: True when the weights are random (a tiny model built from config): outputs are noise.
    random_weights: bool
    #: True when the model can condition on reference photos (VACE weights are loaded); when False,
    #: requests that carry ``reference_images`` are refused.
    supports_reference_images: bool = False
    #: How the replica runs the model: its ranks and their context/CFG-parallel layout.
    parallel_layout: str = "1 rank"
    #: The speed presets this deployment serves ("final" always; "draft" when its LoRA is loaded; "fast"
    #: when the step cache is on).
    presets: tuple[str, ...] = ("final",)


@dataclass(frozen=True)
class CharacterConditioning:
    """One character in a shot: its locked identity and how strongly it conditions the shot."""

    character_id: str
    #: The identity version's embedding, shape (512,), float32, unit L2 norm.
    z_id: np.ndarray
    #: Weight of the identity adapter's output, 0.0 to 1.5; 0.0 reproduces the plain model exactly.
    identity_strength: float
    #: Reference photos (encoded JPEG/PNG/WebP bytes) for the VACE reference-image path; empty: not used.
    reference_images: tuple[bytes, ...] = ()
    #: VACE conditioning scale for the reference images.
    reference_conditioning_scale: float = 1.0
    #: Where the character's identity applies: (x, y, width, height) normalised, origin top-left;
    #: None: the whole frame.
    region: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class ShotRequest:
    """One shot to generate."""

    #: Unique per attempt; names the request in logs and for cancellation.
    request_id: str
    prompt: str
    negative_prompt: str
    num_frames: int
    height: int
    width: int
    seed: int
    num_inference_steps: int
    guidance_scale: float
    characters: tuple[CharacterConditioning, ...] = field(default_factory=tuple)
    #: The replica streams a StepProgress at most once per this many seconds, and always after the
    #: last step; 0: after every step. Each item is a message between processes and a wake-up of both
    #: event loops, so a caller that keeps one progress event per interval asks for no more.
    progress_interval_s: float = 0.0
    #: "final" (the base experts), "fast" (the base experts with MagCache, see fastcache.py) or "draft"
    #: (the distilled LoRA in both experts; the caller sends its few steps and guidance 1).
    preset: str = "final"


@dataclass(frozen=True)
class SynthesisRequest:
    """Still images of a character described in text (SynthesizeReference)."""

    request_id: str
    description: str
    count: int
    seed: int
    height: int
    width: int


@dataclass(frozen=True)
class StepProgress:
    """Denoising progress within one shot."""

    step: int
    total_steps: int


@dataclass(frozen=True)
class ShotFrames:
    """A finished shot (or synthesized stills): frames as uint8 RGB, shape (frames, height, width, 3)."""

    frames: np.ndarray
    seed: int
    model: ModelInfo
    #: Seconds the replica's model worked on the request (set by the replica; 0 when not measured).
    model_s: float = 0.0

"""One model over N ranks: context parallelism (diffusers) inside each half, CFG parallelism across halves.

Layout (:class:`ParallelLayout`): with guidance, N ≥ 2 ranks split into two halves (``cfg`` 2); the
first half computes every step's conditional pass and the second half the unconditional one at the same
time, and the two results are exchanged with one all-gather (as xDiT and LightX2V do). Inside a half, the
patch sequence is split over its ranks by diffusers' context parallelism (``ContextParallelConfig``):
Ulysses where the attention heads divide by the degree, ring attention for what is left. The device mesh
is (cfg, ring, ulysses); diffusers resolves its groups inside the half from the ring and ulysses
dimensions, so the two halves never talk except in the CFG all-gather.

What diffusers lacks and is registered here, from our code:

- ``WanVACETransformer3DModel`` has no ``_cp_plan``: :data:`VACE_CP_PLAN` splits the patch sequence into
  the VACE blocks (latents and control latents) and again into the main blocks (whose VACE hints are
  then the same local chunks), and gathers after ``proj_out``.
- CFG parallelism: :class:`CfgParallelHook`, a diffusers ``ModelHook`` on each expert. The stock
  pipelines call an expert twice per step, conditional then unconditional, with the same latents. On
  the first call every rank runs its half's pass, the halves swap results, and the second call returns
  the stored unconditional result without computing anything.
- The identity adapter's screen-region masks follow the sequence shard
  (:attr:`~likeness.generator.model.adapter.IdentityContext.sequence_shard`).

Every rank holds a full copy of the model and denoises the same request in lockstep (same seeds, same
latents after every step); rank 0 alone decodes frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import torch
import torch.distributed as dist
from diffusers.hooks.hooks import HookRegistry, ModelHook
from diffusers.models._modeling_parallel import ContextParallelInput, ContextParallelOutput

from likeness.generator.model import EXPERTS

#: The hook's name in each expert's diffusers HookRegistry.
CFG_HOOK = "likeness_cfg_parallel"

#: Context parallelism for WanVACETransformer3DModel (diffusers ships none). Its forward embeds the
#: patches, runs every VACE block on (latents, control latents) to make the hints, then the main blocks,
#: adding hint i after block vace_layers[i]. Splitting the VACE blocks' two inputs and the main blocks'
#: latents on the sequence dimension keeps hints and latents as the same local chunks; rope's cos/sin
#: follow the latents; the output is gathered after proj_out.
VACE_CP_PLAN: dict[str, Any] = {
    "rope": {
        0: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
        1: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
    },
    "vace_blocks.0": {
        "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
        "control_hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
    },
    "blocks.0": {
        "hidden_states": ContextParallelInput(split_dim=1, expected_dims=3, split_output=False),
    },
    "proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
}


def _wan_plan() -> dict[str, Any]:
    """diffusers' own plan for WanTransformer3DModel, less its split of 2-D timesteps (Wan 2.2 TI2V's
    per-patch timesteps): the A14B experts take one timestep per sample, and that entry only warns on
    every call that it has nothing to split."""
    from diffusers import WanTransformer3DModel

    return {name: entry for name, entry in WanTransformer3DModel._cp_plan.items() if name != ""}


@dataclass(frozen=True)
class ParallelLayout:
    """How N ranks share one model: ``cfg`` * ``ring`` * ``ulysses`` = ``world_size``."""

    world_size: int
    cfg: int = 1
    ring: int = 1
    ulysses: int = 1

    @classmethod
    def plan(cls, world_size: int, heads: int, *, cfg_parallel: bool = True) -> ParallelLayout:
        """CFG halves when the rank count is even (and CFG parallelism is wanted), then the most Ulysses
        the heads allow, ring for the rest."""
        if world_size < 1:
            raise ValueError("a replica needs at least one rank")
        cfg = 2 if cfg_parallel and world_size >= 2 and world_size % 2 == 0 else 1
        sequence = world_size // cfg
        ulysses = max(d for d in range(1, sequence + 1) if sequence % d == 0 and heads % d == 0)
        return cls(world_size=world_size, cfg=cfg, ring=sequence // ulysses, ulysses=ulysses)

    @property
    def sequence_degree(self) -> int:
        """Ranks that share one pass's patch sequence."""
        return self.ring * self.ulysses

    def describe(self) -> str:
        return (
            f"{self.world_size} ranks: cfg {self.cfg} x ring {self.ring} x ulysses {self.ulysses}"
            if self.world_size > 1
            else "1 rank"
        )


class CfgPass:
    """The running request's text embeddings, by which the CFG hook tells the two passes apart, and the
    unconditional result computed by the other half, kept until the pipeline asks for it."""

    def __init__(self) -> None:
        self.positive: torch.Tensor | None = None
        self.negative: torch.Tensor | None = None
        self.reentered = False
        self.stored: tuple[torch.Tensor, torch.Tensor] | None = None

    @contextmanager
    def use(self, positive: torch.Tensor, negative: torch.Tensor | None) -> Iterator[None]:
        """Run the two passes in parallel for these embeddings; without negative ones (no guidance) every
        rank computes the single conditional pass."""
        self.positive, self.negative, self.stored = positive, negative, None
        try:
            yield
        finally:
            self.positive = self.negative = self.stored = None


class CfgParallelHook(ModelHook):
    """Runs this rank's half of classifier-free guidance on the conditional call, exchanges results with
    the other half, and answers the unconditional call from what it received."""

    def __init__(self, state: CfgPass, group: Any, half: int) -> None:
        super().__init__()
        self.state = state
        self.group = group
        self.half = half

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        state = self.state
        embeds = kwargs.get("encoder_hidden_states")
        if state.reentered or state.negative is None or args:
            return self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]
        if embeds is state.negative:
            if state.stored is None or state.stored[0] is not kwargs.get("hidden_states"):
                raise RuntimeError("CFG parallel: the unconditional call came without its conditional call")
            unconditional = state.stored[1]
            state.stored = None
            return _like_output(kwargs, unconditional)
        if embeds is not state.positive:
            raise RuntimeError("CFG parallel: an expert was called with text embeddings of another request")
        mine = kwargs if self.half == 0 else {**kwargs, "encoder_hidden_states": state.negative}
        # Through module.__call__, so that forward pre-hooks (the identity adapter's) see which pass
        # this rank computes; the reentered flag sends that call straight to the expert.
        state.reentered = True
        try:
            output = module(**{**mine, "return_dict": False})[0]
        finally:
            state.reentered = False
        halves = [torch.empty_like(output) for _ in range(2)]
        dist.all_gather(halves, output.contiguous(), group=self.group)
        state.stored = (kwargs["hidden_states"], halves[1])
        return _like_output(kwargs, halves[0])


def _like_output(kwargs: dict[str, Any], sample: torch.Tensor) -> Any:
    """The expert's return value shape for this call (tuple, or Transformer2DModelOutput)."""
    if kwargs.get("return_dict", True):
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=sample)
    return (sample,)


class ParallelRuntime:
    """What one rank needs per request: the CFG pass state and the stop agreement."""

    def __init__(self, layout: ParallelLayout, device: torch.device) -> None:
        self.layout = layout
        self.device = device
        self.rank = dist.get_rank()
        self.cfg = CfgPass()

    def agree_to_stop(self, stop: bool) -> bool:
        """True on every rank when any rank was asked to stop (one all-reduce per step, so that every
        rank leaves the denoising loop after the same step)."""
        flag = torch.tensor([1.0 if stop else 0.0], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def _experts(pipeline: Any) -> list[Any]:
    experts = (getattr(pipeline, name, None) for name in EXPERTS)
    return [expert for expert in experts if expert is not None]


def enable(
    pipelines: list[Any], layout: ParallelLayout, device: torch.device, identity_context: Any = None
) -> ParallelRuntime:
    """Context + CFG parallelism on every expert of these pipelines (torch.distributed must be
    initialised with ``layout.world_size`` ranks). Load or fuse LoRA weights before this: diffusers'
    gather hook sits on ``proj_out``, which PEFT would wrap."""
    from diffusers import ContextParallelConfig, WanVACETransformer3DModel
    from torch.distributed.device_mesh import init_device_mesh

    if dist.get_world_size() != layout.world_size:
        raise ValueError(f"layout for {layout.world_size} ranks in a world of {dist.get_world_size()}")
    runtime = ParallelRuntime(layout, device)
    wan_plan = _wan_plan()
    mesh = init_device_mesh(
        device.type, (layout.cfg, layout.ring, layout.ulysses), mesh_dim_names=("cfg", "ring", "ulysses")
    )
    half = mesh.get_local_rank("cfg")
    if layout.sequence_degree > 1:
        # diffusers computes `rank % torch.accelerator.device_count()` for a device it only records;
        # with no accelerator (CPU ranks on gloo) that count is 0.
        count = torch.accelerator.device_count() or 1
        with mock.patch.object(torch.accelerator, "device_count", return_value=count):
            for pipeline in pipelines:
                for expert in _experts(pipeline):
                    plan = VACE_CP_PLAN if isinstance(expert, WanVACETransformer3DModel) else wan_plan
                    expert.enable_parallelism(
                        config=ContextParallelConfig(
                            ring_degree=layout.ring, ulysses_degree=layout.ulysses, mesh=mesh
                        ),
                        cp_plan=plan,
                    )
        if identity_context is not None:
            sequence_group = mesh["ring", "ulysses"]._flatten().get_group()
            identity_context.sequence_shard = (dist.get_rank(sequence_group), layout.sequence_degree)
    if layout.cfg > 1:
        group = mesh.get_group("cfg")
        for pipeline in pipelines:
            for expert in _experts(pipeline):
                registry = HookRegistry.check_if_exists_or_initialize(expert)
                registry.register_hook(CfgParallelHook(runtime.cfg, group, half), CFG_HOOK)
    return runtime

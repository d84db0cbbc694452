"""The ``fast`` speed preset: diffusers' MagCache on both Wan 2.2 experts.

MagCache skips a step's transformer blocks when the magnitude of their residual is predicted to change
little, and reuses the last computed residual instead. It predicts from a per-step curve of magnitude
ratios measured once per checkpoint (``mag_ratios``), so its decision depends only on the step counter,
that curve and the thresholds, never on tensor values (diffusers 0.42.1 ``hooks/mag_cache.py``). Every
rank of a context-parallel group therefore skips the same steps without a collective. FirstBlockCache,
the other step cache, decides from the first block's residual on the rank's own shard of the sequence;
ranks could disagree and their all-to-alls would hang, so it is not used.

How the hooks sit on each block (innermost first)::

    block.forward  <-  torch.compile (optional)  <-  MagCache hook  <-  context-parallel split (blocks.0)

- The cache hooks are registered when the model is built, before :meth:`WanVideoModel.enable_parallelism`,
  so the head hook sees the rank's shard, as the tail does.
- The stock hooks run eagerly (``torch.compiler.disable``), so regional compilation goes beneath them
  (:func:`compile_under_hooks`) rather than around them (``compile_repeated_blocks``).
- They are gated: inactive, a hook is a plain call of the block, so ``final`` and ``draft`` compute
  exactly what they compute without it.
- :func:`configure` runs at the start of every request, on every rank: it resets both experts' cache
  state (diffusers resets it only at the end of a completed pipeline call, not after a cancelled one) and
  switches the hooks on, with each expert's curve stretched to the steps it takes, or off.

Ratios. diffusers ships none for Wan. :data:`WAN22_T2V_A14B_RATIOS` are the MagCache authors' curve for
Wan 2.2 T2V A14B (``Zehong-Ma/MagCache``, ``MagCache4Wan2.2/magcache_generate.py``), measured with the
original Wan 2.2 code at 40 steps, shift 12: one value per pass, conditional and unconditional
interleaved, over the whole schedule (the first step left out), with the jump at the expert switch after
26 high-noise steps. :func:`expert_ratios` cuts it into one curve per expert (diffusers keeps one state per
expert, counting that expert's own steps). A deployment calibrated on its own checkpoint and scheduler puts
``fast_cache.json`` (``{"transformer": [...], "transformer_2": [...]}``, from diffusers'
``MagCacheConfig(calibrate=True)``) in its model directory, and that curve is used instead:
``likeness model calibrate-fast MODEL_DIR`` runs the checkpoint on a few prompts with every step computed
(:meth:`WanVideoModel.calibrate_fast`), records each expert's ratio per step for the conditional and
unconditional passes, and writes their mean.

Thresholds (the authors' default setting, "E006K2R02"): the accumulated error bound 0.06, at most 2
consecutive skipped steps, and the first 20 % of each expert's steps always computed.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import torch
from diffusers.hooks.hooks import HookRegistry, StateManager
from diffusers.hooks.mag_cache import (
    _MAG_CACHE_BLOCK_HOOK,
    _MAG_CACHE_LEADER_BLOCK_HOOK,
    MagCacheBlockHook,
    MagCacheConfig,
    MagCacheHeadHook,
    MagCacheState,
    nearest_interp,
)

from likeness.generator.model import EXPERTS

#: A calibrated curve in a model directory replaces the authors' one.
FAST_CACHE_FILE = "fast_cache.json"
FAST_THRESHOLD = 0.06
FAST_MAX_SKIP_STEPS = 2
FAST_RETENTION_RATIO = 0.2

#: The authors' Wan 2.2 T2V A14B curve: (conditional, unconditional) per step of a 40-step schedule,
#: the first step left out.
WAN22_T2V_A14B_RATIOS = (
    1.00124,
    1.00155,
    0.99822,
    0.99851,
    0.99696,
    0.99687,
    0.99703,
    0.99732,
    0.9966,
    0.99679,
    0.99602,
    0.99658,
    0.99578,
    0.99664,
    0.99484,
    0.9949,
    0.99633,
    0.996,
    0.99659,
    0.99683,
    0.99534,
    0.99549,
    0.99584,
    0.99577,
    0.99681,
    0.99694,
    0.99563,
    0.99554,
    0.9944,
    0.99473,
    0.99594,
    0.9964,
    0.99466,
    0.99461,
    0.99453,
    0.99481,
    0.99389,
    0.99365,
    0.99391,
    0.99406,
    0.99354,
    0.99361,
    0.99283,
    0.99278,
    0.99268,
    0.99263,
    0.99057,
    0.99091,
    0.99125,
    0.99126,
    0.65523,
    0.65252,
    0.98808,
    0.98852,
    0.98765,
    0.98736,
    0.9851,
    0.98535,
    0.98311,
    0.98339,
    0.9805,
    0.9806,
    0.97776,
    0.97771,
    0.97278,
    0.97286,
    0.96731,
    0.96728,
    0.95857,
    0.95855,
    0.94385,
    0.94385,
    0.92118,
    0.921,
    0.88108,
    0.88076,
    0.80263,
    0.80181,
)
#: High-noise steps of the authors' 40-step runs (the curve's jump sits after them).
WAN22_T2V_A14B_HIGH_STEPS = 26


def expert_ratios(
    interleaved: tuple[float, ...] = WAN22_T2V_A14B_RATIOS, high_steps: int = WAN22_T2V_A14B_HIGH_STEPS
) -> dict[str, list[float]]:
    """A whole-schedule interleaved curve cut into one curve per expert, from the conditional passes
    (the unconditional values differ in the third decimal; diffusers keeps one curve for both). The
    low-noise curve starts at 1.0: its first step is always computed, having no residual of its own."""
    full = [1.0, *interleaved[0::2]]
    low = [1.0, *full[high_steps + 1 :]]
    return {"transformer": full[:high_steps], "transformer_2": low}


def load_ratios(model_dir: Path) -> dict[str, list[float]]:
    """The model directory's calibrated curves, or the authors' Wan 2.2 T2V A14B ones."""
    path = model_dir / FAST_CACHE_FILE
    if not path.is_file():
        return expert_ratios()
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or any(
        not isinstance(data.get(name), list) or not data[name] for name in EXPERTS
    ):
        raise ValueError(f'{path}: expected {{"transformer": [ratios], "transformer_2": [ratios]}}')
    return {name: [float(value) for value in data[name]] for name in EXPERTS}


class _GatedHead(MagCacheHeadHook):
    """The stock head hook; inactive, a plain call of the block."""

    active = False
    #: Passes (conditional and unconditional counted apart) whose blocks were skipped since configure.
    skipped = 0

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        if not self.active:
            return self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]
        output = super().new_forward(module, *args, **kwargs)
        if not self.state_manager.get_state().should_compute:
            self.skipped += 1
        return output


class _GatedBlock(MagCacheBlockHook):
    active = False
    #: While calibrating, the tail block's ratio of each step, per cache context ("cond", "uncond").
    recorded: dict[str, list[float]] | None = None

    def new_forward(self, module: torch.nn.Module, *args: Any, **kwargs: Any) -> Any:
        if not self.active:
            return self.fn_ref.original_forward(*args, **kwargs)  # type: ignore[misc]
        return super().new_forward(module, *args, **kwargs)

    def _perform_calibration_step(self, state: MagCacheState, current_residual: torch.Tensor) -> None:
        super()._perform_calibration_step(state, current_residual)
        if self.recorded is not None:
            context = self.state_manager.context.name
            self.recorded.setdefault(context, []).append(state.calibration_ratios[-1])


def _hooks(expert: torch.nn.Module) -> list[Any]:
    found = []
    for block in expert.blocks:  # type: ignore[union-attr]
        registry = getattr(block, "_diffusers_hook", None)
        for name in (_MAG_CACHE_LEADER_BLOCK_HOOK, _MAG_CACHE_BLOCK_HOOK):
            hook = registry.get_hook(name) if registry is not None else None
            if hook is not None:
                found.append(hook)
    return found


def install(expert: torch.nn.Module) -> None:
    """Inactive MagCache hooks on every block of ``expert`` (what diffusers' ``apply_mag_cache`` does,
    with the gated hooks). Before context parallelism and compilation."""
    placeholder = MagCacheConfig(mag_ratios=[1.0], num_inference_steps=1)
    state_manager = StateManager(MagCacheState, (), {})  # type: ignore[arg-type]
    blocks: list[torch.nn.Module] = list(expert.blocks)  # type: ignore[arg-type]
    root = HookRegistry.check_if_exists_or_initialize(expert)
    for index, block in enumerate(blocks):
        registry = HookRegistry.check_if_exists_or_initialize(block)
        if index > 0 or len(blocks) == 1:
            tail = index == len(blocks) - 1
            registry.register_hook(_GatedBlock(state_manager, tail, placeholder), _MAG_CACHE_BLOCK_HOOK)
        if index == 0:
            registry.register_hook(_GatedHead(state_manager, placeholder), _MAG_CACHE_LEADER_BLOCK_HOOK)
    root.invalidate_child_registries_cache()


def compile_under_hooks(expert: torch.nn.Module) -> None:
    """Regional compilation of each block's own forward, beneath the cache hooks (installed first, so the
    innermost hook's ``original_forward`` is the block's); the blocks share one compiled code object."""
    for block in expert.blocks:  # type: ignore[union-attr]
        registry = block._diffusers_hook
        innermost = registry.hooks[registry._hook_order[0]]
        innermost.fn_ref.original_forward = torch.compile(innermost.fn_ref.original_forward, fullgraph=True)


def high_noise_steps(pipeline: Any, num_inference_steps: int) -> int:
    """How many of the schedule's steps the high-noise expert takes, decided as WanPipeline does."""
    boundary = pipeline.config.boundary_ratio
    if boundary is None:
        return num_inference_steps
    scheduler = copy.deepcopy(pipeline.scheduler)
    scheduler.set_timesteps(num_inference_steps, device="cpu")
    return int((scheduler.timesteps >= boundary * scheduler.config.num_train_timesteps).sum())


def configure(
    pipeline: Any,
    num_inference_steps: int,
    ratios: dict[str, list[float]] | None,
    *,
    calibrate: bool = False,
) -> dict[str, MagCacheConfig]:
    """At the start of every request: reset both experts' cache state, then switch the hooks on with each
    expert's curve stretched to its steps in this request (``ratios``), or off (None). ``calibrate``
    switches them on computing every step and recording its ratio instead (:func:`recorded`)."""
    experts = {name: getattr(pipeline, name) for name in EXPERTS}
    for expert in experts.values():
        expert._reset_stateful_cache()
    configs: dict[str, MagCacheConfig] = {}
    if ratios is not None or calibrate:
        high = high_noise_steps(pipeline, num_inference_steps)
        for name, steps in (("transformer", high), ("transformer_2", num_inference_steps - high)):
            if steps <= 0:
                continue
            if calibrate:
                configs[name] = MagCacheConfig(calibrate=True, num_inference_steps=steps)
                continue
            assert ratios is not None
            curve = nearest_interp(torch.tensor(ratios[name], dtype=torch.float32), steps)
            configs[name] = MagCacheConfig(
                threshold=FAST_THRESHOLD,
                max_skip_steps=FAST_MAX_SKIP_STEPS,
                retention_ratio=FAST_RETENTION_RATIO,
                num_inference_steps=steps,
                mag_ratios=curve,
            )
    for name, expert in experts.items():
        for hook in _hooks(expert):
            hook.active = name in configs
            hook.skipped = 0
            if isinstance(hook, _GatedBlock):
                hook.recorded = {} if calibrate and name in configs else None
            if name in configs:
                hook.config = configs[name]
    return configs


def recorded(pipeline: Any) -> dict[str, dict[str, list[float]]]:
    """Per expert, the ratios its tail block recorded per cache context since a calibrating
    :func:`configure` (an expert that took no step has none)."""
    found: dict[str, dict[str, list[float]]] = {}
    for name in EXPERTS:
        for hook in _hooks(getattr(pipeline, name)):
            if isinstance(hook, _GatedBlock) and hook.is_tail and hook.recorded:
                found[name] = {context: list(values) for context, values in hook.recorded.items()}
    return found


def mean_curve(runs: list[dict[str, dict[str, list[float]]]]) -> dict[str, list[float]]:
    """Calibration runs (:func:`recorded` of each) as one curve per expert: per step, the mean over the
    runs and over their conditional and unconditional passes (the two differ in the third decimal; the
    hooks keep one curve for both). Every run must have the same steps."""
    curves: dict[str, list[float]] = {}
    for name in EXPERTS:
        passes = [values for run in runs for values in run.get(name, {}).values()]
        if not passes:
            raise ValueError(f"no calibration ratios were recorded for {name}")
        if len({len(values) for values in passes}) != 1:
            raise ValueError(f"the calibration runs of {name} took different numbers of steps")
        curves[name] = [float(value) for value in torch.tensor(passes, dtype=torch.float64).mean(0)]
    return curves


def save_ratios(model_dir: Path, curves: dict[str, list[float]]) -> Path:
    """Write a calibrated curve where :func:`load_ratios` reads it (written whole, then renamed)."""
    path = model_dir / FAST_CACHE_FILE
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps({name: curves[name] for name in EXPERTS}, indent=1))
    partial.replace(path)
    return path


def skipped_passes(pipeline: Any) -> dict[str, int]:
    """Per expert, the passes whose blocks were skipped since the last :func:`configure`."""
    return {
        name: sum(hook.skipped for hook in _hooks(getattr(pipeline, name)) if isinstance(hook, _GatedHead))
        for name in EXPERTS
    }


def installed(pipeline: Any) -> bool:
    return all(_hooks(getattr(pipeline, name)) for name in EXPERTS)

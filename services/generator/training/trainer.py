"""The identity adapter's trainer: frozen Wan 2.2 experts and VAE, only the adapter learns.

One process per GPU (or per CPU rank on gloo), data parallel through ``DistributedDataParallel`` over the
adapter's trainable parameters. The frozen expert is replicated on each rank (one A14B expert in bf16 is
~28 GB and trains with gradient checkpointing in ~62-70 GB on one 80 GB card, see
``benchmarks/train_gpu.py``), or with ``shard_frozen`` split over the ranks by FSDP2, each rank holding
1/world of it (both experts on one node, 720p, longer clips). Each step:

1. takes each rank's samples from the prepared shards (prepare.py: VAE latents, text embeddings, z_id,
   face landmarks of sampled frames), in a seeded order that depends only on (seed, step, rank);
2. draws one noise level for the step (the same on every rank, so every rank runs the same expert) in
   the chosen expert's range: the high-noise expert at or above the boundary, the low-noise one below
   it (``expert: high|low`` trains one expert's adapter weights; ``both`` draws over the whole range);
3. predicts the velocity with the adapter fed the clip's identity (flow-matching loss against
   ``noise - latents``), forms the predicted clean latents ``noisy - sigma * velocity``, decodes their first
   ``decode_latent_frames`` latent frames with the VAE (the causal VAE decodes a prefix exactly), aligns
   the faces of those frames from their landmarks (differentiably) and embeds them with the identity
   service's own ArcFace ported to torch (face.py):

       identity loss = mean_t (1 - cos(f(v_t), z_id)) + temporal_weight * mean_t (1 - cos(f(v_t), f(v_t+1)))

   total = identity_weight * identity + diffusion_weight * flow matching.

Master weights are float32; on CUDA the forward runs under bf16 autocast. Checkpoints hold the adapter,
the optimizer state and the step; randomness comes from (seed, step, rank) only, so a resumed run
continues the loss curve of an uninterrupted one exactly. Metrics go to ``metrics.jsonl`` in the run
directory (one line per step), and rank 0 shows a progress bar with the remaining time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from likeness.generator.model import EXPERTS
from likeness.generator.model.adapter import IdentityAdapter
from likeness.generator.training.frozen import (
    frozen_layout,
    load_frozen,
    make_face_model,
    shard_experts,
)
from likeness.generator.training.loss import AdapterLoss, Batch, StepLosses

log = logging.getLogger("likeness.generator.training")

CHECKPOINTS = "checkpoints"
LAYOUT = "layout.json"
METRICS = "metrics.jsonl"
FINAL_ADAPTER = "identity_adapter.safetensors"


class TrainConfig(BaseModel):
    """``train.yaml``: what ``likeness train run`` trains, on what, and how."""

    model_config = ConfigDict(extra="forbid")

    #: The prepared shards (``likeness train prepare``): a folder, or ``s3://bucket/prefix``, mirrored
    #: into ``<out>/data`` before the ranks start.
    data: str
    #: The run directory: checkpoints, metrics.jsonl, the final adapter.
    out: Path
    #: A diffusers Wan 2.2 directory (experts, VAE, scheduler); or ``tiny`` for the random tiny model.
    model_dir: Path | None = None
    tiny: bool = False
    tiny_seed: int = 0
    #: Which expert's adapter weights learn: ``high`` (noise at or above the boundary), ``low``, or ``both``.
    expert: Literal["high", "low", "both"] = "both"
    #: The projector (z_id -> tokens) is shared by both experts: train it in the first expert's run,
    #: then start the other expert's run from that adapter (``init_adapter``) with this off.
    train_projector: bool = True
    init_adapter: Path | None = None
    steps: int = Field(gt=0)
    #: Samples per rank per step.
    batch_size: int = Field(1, gt=0)
    learning_rate: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    identity_weight: float = Field(1.0, ge=0)
    temporal_weight: float = Field(0.5, ge=0)
    diffusion_weight: float = Field(1.0, ge=0)
    #: The identity strength the adapter is trained at.
    identity_strength: float = Field(1.0, gt=0)
    #: Latent frames decoded for the identity loss (1 + 4 (n - 1) frames): bounds the VAE's memory.
    decode_latent_frames: int = Field(2, gt=0)
    #: Noise levels drawn from [min, max], then cut to the trained expert's side of the boundary.
    sigma_min: float = Field(0.02, gt=0, lt=1)
    sigma_max: float = Field(0.98, gt=0, lt=1)
    #: ``arcface``: the identity service's recogniser in torch; ``random-projection`` only for CPU tests.
    face_model: Literal["arcface", "random-projection"] = "arcface"
    gradient_checkpointing: bool = True
    #: Shard the frozen experts across the ranks with FSDP2 (``fully_shard`` per block): each rank holds
    #: 1/world of their weights, gathered block by block for the forward and again for the backward.
    #: For when one replicated expert and its activations do not fit one card (720p, long clips, both
    #: experts on one node); the losses are those of the replicated run.
    shard_frozen: bool = False
    checkpoint_every: int = Field(100, gt=0)
    keep_checkpoints: int = Field(3, gt=0)
    seed: int = 0

    @field_validator("data", mode="before")
    @classmethod
    def _data_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a mapping of settings is expected")
        base = path.parent
        for key in ("data", "out", "model_dir", "init_adapter"):
            value = data.get(key)
            if isinstance(value, str) and not value.startswith("s3://") and not Path(value).is_absolute():
                data[key] = str(base / data[key])
        return cls.model_validate(data)

    def experts(self) -> tuple[str, ...]:
        return {"high": ("transformer",), "low": ("transformer_2",), "both": EXPERTS}[self.expert]

    def digest(self) -> str:
        """What must not change across a resume (everything but the step count, the schedule of saves and
        how the frozen weights are laid out over the ranks)."""
        fixed = self.model_dump(
            mode="json", exclude={"steps", "checkpoint_every", "keep_checkpoints", "out", "shard_frozen"}
        )
        return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()[:16]


# --- data order and randomness: functions of (seed, step, rank) only ---------------------------------


def sample_indexes(seed: int, step: int, rank: int, world: int, batch_size: int, total: int) -> list[int]:
    """The dataset indexes rank ``rank`` trains on at ``step`` (0-based): every rank walks one seeded
    permutation per epoch, each step taking the next world x batch_size samples."""
    per_step = world * batch_size
    indexes = []
    for offset in range(batch_size):
        position = step * per_step + rank * batch_size + offset
        epoch, within = divmod(position, total)
        order = np.random.default_rng([seed, epoch]).permutation(total)
        indexes.append(int(order[within]))
    return indexes


def step_sigma(config: TrainConfig, boundary: float, step: int) -> float:
    """The step's noise level (the same on every rank), in the trained expert's range."""
    low, high = config.sigma_min, config.sigma_max
    if config.expert == "high":
        low = max(low, boundary)
    elif config.expert == "low":
        high = min(high, boundary - 1e-3)
    if low > high:
        raise ValueError(
            f"no noise level for expert {config.expert!r} in [{config.sigma_min}, {config.sigma_max}]"
        )
    generator = torch.Generator().manual_seed(hash_seed(config.seed, step, -1))
    return float(low + (high - low) * torch.rand((), generator=generator))


def hash_seed(*parts: int) -> int:
    digest = hashlib.sha256(",".join(str(part) for part in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def step_noise(config: TrainConfig, step: int, rank: int, shape: Sequence[int]) -> torch.Tensor:
    generator = torch.Generator().manual_seed(hash_seed(config.seed, step, rank))
    return torch.randn(tuple(shape), generator=generator)


# --- checkpoints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path


def checkpoints(out: Path) -> list[Checkpoint]:
    """Complete checkpoints, oldest first (a checkpoint is complete once its state.json is in place)."""
    found = []
    for path in sorted((out / CHECKPOINTS).glob("step-*")):
        state = path / "state.json"
        if state.is_file():
            found.append(Checkpoint(int(json.loads(state.read_text())["step"]), path))
    return sorted(found, key=lambda each: each.step)


def save_checkpoint(
    out: Path, step: int, adapter: IdentityAdapter, optimizer: Any, config: TrainConfig
) -> Path:
    target = out / CHECKPOINTS / f"step-{step:08d}"
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    adapter.save(partial / FINAL_ADAPTER)
    torch.save(optimizer.state_dict(), partial / "optimizer.pt")
    (partial / "state.json").write_text(json.dumps({"step": step, "config": config.digest()}))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    for old in checkpoints(out)[: -config.keep_checkpoints]:
        shutil.rmtree(old.path, ignore_errors=True)
    return target


# --- the run -----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    losses: list[StepLosses]
    adapter_path: Path | None
    resumed_from: int


def _distributed() -> tuple[int, int, int]:
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return rank, world, local


def _collate(samples: Sequence[Any], device: torch.device) -> Batch:
    return Batch(
        latents=torch.stack([sample.latents for sample in samples]).float().to(device),
        prompt_embeds=torch.stack([sample.prompt_embeds for sample in samples]).float().to(device),
        z_id=torch.stack([sample.z_id for sample in samples]).float().to(device),
        face_frames=[sample.face_frames.long().to(device) for sample in samples],
        landmarks=[sample.landmarks.float().to(device) for sample in samples],
    )


def run(config: TrainConfig, *, stop_after: int | None = None, progress: bool = True) -> RunResult:
    """Train on this rank (``RANK``/``WORLD_SIZE`` from the launcher; one process when unset), resuming
    from the run directory's latest checkpoint. ``stop_after`` ends after that step (tests)."""
    from likeness.generator.training.shards import ShardDataset

    rank, world, local = _distributed()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    dtype = torch.bfloat16 if cuda else torch.float32
    dataset = ShardDataset(Path(config.data))
    if len(dataset) == 0:
        raise ValueError(f"{config.data}: no samples")
    frozen = load_frozen(config, device, dtype)
    if config.gradient_checkpointing:
        for expert in frozen.experts.values():
            expert.enable_gradient_checkpointing()  # type: ignore[operator]
    if config.shard_frozen and world > 1:
        shard_experts(frozen, device)
    layout = frozen_layout(frozen, world)  # before the adapter's processors join the blocks
    first_expert = next(iter(frozen.experts.values()))
    torch.manual_seed(config.seed)  # a fresh adapter's initialisation, the same on every rank
    adapter = (
        IdentityAdapter.load(config.init_adapter)
        if config.init_adapter
        else IdentityAdapter.for_transformer(first_expert)
    ).float()
    adapter.to(device)
    adapter.requires_grad_(False)
    trained = [adapter.blocks[name] for name in config.experts()]
    if config.train_projector:
        trained.append(adapter.projector)
    for module in trained:
        module.requires_grad_(True)
    loss_module = AdapterLoss(adapter, frozen, make_face_model(config.face_model, device), config)
    wrapped: nn.Module = loss_module
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            loss_module, device_ids=[local] if cuda else None, find_unused_parameters=True
        )
    parameters = [parameter for parameter in adapter.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)

    start = 0
    found = checkpoints(config.out)
    if found:
        latest = found[-1]
        state = json.loads((latest.path / "state.json").read_text())
        if state["config"] != config.digest():
            raise ValueError(
                f"{config.out} holds a run of another configuration (digest {state['config']}); "
                "use a new run directory"
            )
        adapter.load_state_dict(IdentityAdapter.load(latest.path / FINAL_ADAPTER).state_dict())
        optimizer.load_state_dict(torch.load(latest.path / "optimizer.pt", map_location=device))
        start = latest.step
    metrics_path = config.out / METRICS
    if rank == 0:
        config.out.mkdir(parents=True, exist_ok=True)
        _truncate_metrics(metrics_path, start)
        (config.out / "train.yaml").write_text(
            yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        )
        (config.out / LAYOUT).write_text(json.dumps(layout, indent=2) + "\n")
    last = config.steps if stop_after is None else min(config.steps, stop_after)
    bar = _progress(start, config.steps) if (progress and rank == 0) else None
    history: list[StepLosses] = []
    started = time.perf_counter()
    for step in range(start, last):
        indexes = sample_indexes(config.seed, step, rank, world, config.batch_size, len(dataset))
        batch = _collate([dataset[index] for index in indexes], device)
        sigma = step_sigma(config, frozen.boundary, step)
        noise = step_noise(config, step, rank, batch.latents.shape).to(device)
        optimizer.zero_grad(set_to_none=True)
        with loss_module.conditioned(batch):
            values = wrapped(batch, sigma, noise)
            values["total"].backward()
        optimizer.step()
        reported = _mean_over_ranks(values, world)
        losses = StepLosses(
            step=step + 1,
            total=reported["total"],
            identity=reported["identity"],
            temporal=reported["temporal"],
            diffusion=reported["diffusion"],
            sigma=sigma,
            expert=EXPERTS[int(values["expert"])],
            faces=int(reported["faces"] * world),
        )
        history.append(losses)
        if rank == 0:
            with metrics_path.open("a") as metrics:
                metrics.write(json.dumps({**asdict(losses), "seconds": time.perf_counter() - started}) + "\n")
            if bar is not None:
                bar.set_postfix(loss=f"{losses.total:.4f}", identity=f"{losses.identity:.4f}")
                bar.update(1)
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
            if rank == 0:
                save_checkpoint(config.out, step + 1, adapter, optimizer, config)
            if world > 1:
                dist.barrier()
    if bar is not None:
        bar.close()
    adapter_path = None
    if last == config.steps and rank == 0:
        adapter_path = adapter.save(config.out / FINAL_ADAPTER)
    if world > 1:
        dist.barrier()
    return RunResult(losses=history, adapter_path=adapter_path, resumed_from=start)


def _mean_over_ranks(values: dict[str, torch.Tensor], world: int) -> dict[str, float]:
    names = ("total", "identity", "temporal", "diffusion", "faces")
    stacked = torch.stack([values[name].detach().float().cpu() for name in names])
    if world > 1:
        dist.all_reduce(stacked)
        stacked /= world
    return {name: float(value) for name, value in zip(names, stacked, strict=True)}


def _truncate_metrics(path: Path, step: int) -> None:
    """Keep the metrics of steps up to ``step`` (a resumed run rewrites what followed its checkpoint)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _progress(start: int, total: int) -> Any:
    from tqdm.auto import tqdm  # type: ignore[import-untyped]

    return tqdm(total=total, initial=start, unit="step", desc="training", dynamic_ncols=True)


def read_metrics(out: Path) -> list[dict[str, Any]]:
    path = out / METRICS
    return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _rank_main(
    rank: int, world: int, port: int, config_json: str, stop_after: int | None, progress: bool
) -> None:
    with _environment(
        {"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
         "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    ):  # fmt: skip
        torch.set_num_threads(1)
        try:
            run(TrainConfig.model_validate_json(config_json), stop_after=stop_after, progress=progress)
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()


def launch(
    config: TrainConfig, processes: int, *, stop_after: int | None = None, progress: bool = True
) -> None:
    """Run ``processes`` ranks on this machine (one per GPU; gloo ranks on a CPU-only machine); shards in
    the object store are mirrored first, once for all ranks."""
    if config.data.startswith("s3://"):
        from likeness.generator.training.shards import stage_from_store

        staged = stage_from_store(config.data, config.out / "data")
        config = config.model_copy(update={"data": str(staged)})
    if processes <= 1:
        run(config, stop_after=stop_after, progress=progress)
        return
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.start_processes(  # type: ignore[attr-defined]
        _rank_main,
        args=(processes, port, config.model_dump_json(), stop_after, progress),
        nprocs=processes,
        join=True,
        start_method="spawn",
    )

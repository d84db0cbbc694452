"""The identity adapter: a face embedding as extra cross-attention tokens in both Wan 2.2 experts.

A projector turns a character's ``z_id`` (512-d ArcFace, unit norm) into ``num_tokens`` identity tokens.
Every block's cross-attention (``attn2``) in each expert gets a decoupled second attention over those
tokens (IP-Adapter style): the text attention and the identity attention share the query, and the
identity attention's output, times the character's ``identity_strength``, is added to the text
attention's output before the block's output projection. ``to_v_id`` starts at zero, so a fresh adapter
changes nothing, and a strength of 0 leaves the original processor's computation untouched (the
processor hands the call straight to it), which reproduces the plain pipeline exactly.

Several characters in one shot each keep their own token bank: the identity attention runs once per
character (softmax over that character's tokens only) and the strength-weighted results are summed.
Each sample of a batch can carry its own identities and strengths. A character given a screen region
(regions.py) conditions only the latent patches inside it, so two characters side by side do not blend
their faces. The expert's forward pre-hook reads the latent grid that the token sequence flattens.

Per-request state: diffusers' Wan blocks call ``attn2(hidden, encoder_hidden)`` and never pass
``attention_kwargs`` to the processors, so the identities of the request being denoised live on an
:class:`IdentityContext` that every installed processor holds. One context serves one request at a
time; :class:`~likeness.generator.model.video.WanVideoModel` serialises requests with a lock, and the
Serve deployment runs one request per replica by default.

Classifier-free guidance: the identity is applied to the conditional pass only (the unconditional pass
is the plain model), so guidance pushes towards the identity as it does towards the prompt. The
context tells the two passes apart by the text embeddings the pipeline hands each expert.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from safetensors.torch import load_file, save_file
from torch import nn

from likeness.generator.model import EXPERTS
from likeness.generator.model.regions import FULL_FRAME, region_masks
from likeness.generator.shots import IDENTITY_DIM

#: Characters in one shot, each with its own identity token bank.
MAX_CHARACTERS = 8
ADAPTER_FILE = "identity_adapter.safetensors"
_CONFIG_KEY = "likeness.identity_adapter.config"


@dataclass(frozen=True)
class IdentityAdapterConfig:
    """Shape of an identity adapter; saved with its weights."""

    #: The experts' hidden size (attn2's inner dimension): 5120 for A14B.
    inner_dim: int
    #: Transformer blocks per expert: 40 for A14B.
    num_layers: int
    #: Identity tokens per character.
    num_tokens: int = 4
    #: Width of an identity token before each block's key/value projection.
    token_dim: int = 1024
    identity_dim: int = IDENTITY_DIM
    #: Which experts carry the adapter (both, for Wan 2.2 A14B).
    experts: tuple[str, ...] = EXPERTS
    eps: float = 1e-6

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IdentityAdapterConfig:
        values = json.loads(text)
        values["experts"] = tuple(values["experts"])
        return cls(**values)


class IdentityProjector(nn.Module):
    """z_id (512) → ``num_tokens`` tokens of ``token_dim``."""

    def __init__(self, config: IdentityAdapterConfig) -> None:
        super().__init__()
        self.num_tokens = config.num_tokens
        self.token_dim = config.token_dim
        self.proj = nn.Linear(config.identity_dim, config.num_tokens * config.token_dim)
        self.norm = nn.LayerNorm(config.token_dim)

    def forward(self, z_id: torch.Tensor) -> torch.Tensor:
        tokens = self.proj(z_id).unflatten(-1, (self.num_tokens, self.token_dim))
        normalised: torch.Tensor = self.norm(tokens)
        return normalised


class IdentityBlockAdapter(nn.Module):
    """Key and value projections of the identity tokens for one block's cross-attention."""

    def __init__(self, config: IdentityAdapterConfig) -> None:
        super().__init__()
        self.to_k_id = nn.Linear(config.token_dim, config.inner_dim)
        self.to_v_id = nn.Linear(config.token_dim, config.inner_dim)
        self.norm_k_id = nn.RMSNorm(config.inner_dim, eps=config.eps)
        nn.init.zeros_(self.to_v_id.weight)
        nn.init.zeros_(self.to_v_id.bias)


class IdentityAdapter(nn.Module):
    """All trainable identity weights: the projector and every block's identity key/value projections."""

    def __init__(self, config: IdentityAdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.projector = IdentityProjector(config)
        self.blocks = nn.ModuleDict(
            {
                expert: nn.ModuleList(IdentityBlockAdapter(config) for _ in range(config.num_layers))
                for expert in config.experts
            }
        )

    @classmethod
    def for_transformer(cls, transformer: Any, **overrides: Any) -> IdentityAdapter:
        """A fresh adapter shaped for a Wan transformer (either expert: both have the same shape)."""
        blocks = transformer.blocks
        config = IdentityAdapterConfig(
            inner_dim=blocks[0].attn2.inner_dim, num_layers=len(blocks), **overrides
        )
        return cls(config)

    @property
    def version(self) -> str:
        """A content id of the weights and config (16 hex digits of a SHA-256): what a clip's provenance
        names, so that two adapters with the same file name are told apart."""
        digest = hashlib.sha256(self.config.to_json().encode())
        for name, tensor in sorted(self.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        """Weights and config in one safetensors file (the config in its metadata)."""
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / ADAPTER_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {name: tensor.detach().to("cpu").contiguous() for name, tensor in self.state_dict().items()}
        save_file(tensors, str(path), metadata={_CONFIG_KEY: self.config.to_json()})
        return path

    @classmethod
    def load(cls, path: str | Path) -> IdentityAdapter:
        path = Path(path)
        if path.is_dir():
            path = path / ADAPTER_FILE
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if _CONFIG_KEY not in metadata:
            raise ValueError(f"{path} is not an identity adapter (no {_CONFIG_KEY} metadata)")
        adapter = cls(IdentityAdapterConfig.from_json(metadata[_CONFIG_KEY]))
        adapter.load_state_dict(load_file(str(path)), strict=True)
        return adapter


@dataclass
class _Bank:
    """One request's identities: tokens (batch, characters, tokens, dim), strengths (batch, characters),
    and regions (batch, characters, 4), or None when every character has the whole frame.

    What the processors read inside the blocks is made ready before each expert call (:meth:`prepare`,
    from the expert's forward pre-hook): the tensors on the expert's device and dtype, this rank's masks,
    and which characters have a strength at all, as plain Python. The blocks then hold no
    data-dependent branch, so ``compile_repeated_blocks(fullgraph=True)`` compiles them whole.
    """

    tokens: torch.Tensor
    strengths: torch.Tensor
    #: The unconditional text embeddings the pipeline passes for classifier-free guidance, if any.
    negative_embeds: torch.Tensor | None
    regions: torch.Tensor | None = None
    #: Slots of the characters with a non-zero strength in some sample.
    characters: tuple[int, ...] = ()
    #: (tokens, strengths, masks or None) for the expert call in progress.
    ready: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None = None
    _made: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = field(
        default_factory=dict
    )

    def prepare(
        self,
        device: torch.device,
        dtype: torch.dtype,
        grid: tuple[int, int, int] | None,
        shard: tuple[int, int],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        key = (device, dtype, grid, shard)
        if key not in self._made:
            masks = None
            if self.regions is not None and grid is not None:
                masks = region_masks(self.regions, grid).to(device=device, dtype=dtype)
                index, count = shard
                if count > 1:
                    # Context parallelism: this rank holds the index-th of count equal chunks of the
                    # flattened patches (diffusers' EquipartitionSharder), so it takes those columns.
                    masks = masks.chunk(count, dim=-1)[index].contiguous()
            self._made[key] = (
                self.tokens.to(device=device, dtype=dtype),
                self.strengths.to(device=device, dtype=dtype),
                masks,
            )
        self.ready = self._made[key]
        return self.ready


class IdentityContext:
    """The identities of the request being denoised, shared by every installed processor.

    Not safe for concurrent requests: one context holds one request's identities at a time.
    """

    def __init__(self) -> None:
        self._bank: _Bank | None = None
        self._unconditional = False
        #: The latent grid (frames, height, width in patches) of the expert call in progress.
        self.grid: tuple[int, int, int] | None = None
        #: Identity attentions computed, per expert, by blocks running eagerly; tests read it.
        self.identity_calls: dict[str, int] = {}
        #: Under context parallelism, which of how many equal chunks of the patch sequence this rank's
        #: attention sees (the parallel engine sets it); (0, 1) is the whole sequence.
        self.sequence_shard: tuple[int, int] = (0, 1)

    @contextmanager
    def use(
        self,
        tokens: torch.Tensor,
        strengths: torch.Tensor,
        negative_embeds: torch.Tensor | None = None,
        regions: torch.Tensor | None = None,
    ) -> Iterator[None]:
        """Apply these identities inside the block; strengths that are all zero switch the adapter off.

        ``regions`` (batch, characters, 4: x, y, width, height) confine each character to part of the
        frame; None, or every region the whole frame, conditions everywhere.
        """
        if tokens.ndim != 4 or strengths.shape != tokens.shape[:2]:
            raise ValueError(
                "identity tokens must be (batch, characters, tokens, dim), strengths (batch, characters); "
                f"got {tuple(tokens.shape)} and {tuple(strengths.shape)}"
            )
        if regions is not None:
            if regions.shape != (*strengths.shape, 4):
                raise ValueError(
                    f"regions must be (batch, characters, 4), got {tuple(regions.shape)} for strengths "
                    f"{tuple(strengths.shape)}"
                )
            if bool((regions == torch.tensor(FULL_FRAME)).all()):
                regions = None
            else:
                regions = regions.detach().float().cpu()
        if self._bank is not None:
            raise RuntimeError("the identity adapter is already serving a request")
        characters = tuple(int(slot) for slot in (strengths != 0).any(dim=0).nonzero().flatten().tolist())
        if characters:
            self._bank = _Bank(tokens, strengths, negative_embeds, regions, characters)
        try:
            yield
        finally:
            self._bank = None
            self._unconditional = False
            self.grid = None

    def _before_expert(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        bank = self._bank
        latents = kwargs.get("hidden_states", args[0] if args else None)
        patch = getattr(getattr(module, "config", None), "patch_size", None)
        if isinstance(latents, torch.Tensor) and latents.ndim == 5 and patch is not None:
            frames, height, width = latents.shape[2:]
            self.grid = (frames // patch[0], height // patch[1], width // patch[2])
        embeds = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        self._unconditional = (
            bank is not None and bank.negative_embeds is not None and embeds is bank.negative_embeds
        )
        if bank is not None and not self._unconditional:
            parameter = next(module.parameters())
            bank.prepare(parameter.device, parameter.dtype, self.grid, self.sequence_shard)

    def active(self) -> _Bank | None:
        if self._bank is None or self._unconditional:
            return None
        return self._bank


class IdentityAttnProcessor:
    """attn2's processor with the decoupled identity attention; delegates to the original when idle."""

    def __init__(self, base: Any, block: IdentityBlockAdapter, context: IdentityContext, expert: str) -> None:
        self.base = base
        self.block = block
        self.context = context
        self.expert = expert

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        bank = self.context.active()
        if bank is None or encoder_hidden_states is None:
            return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)  # type: ignore[no-any-return]
        # set_attention_backend sets it on this processor; the wrapped one keeps what it was given.
        backend = getattr(self, "_attention_backend", None) or getattr(self.base, "_attention_backend", None)

        # The text cross-attention, as WanAttnProcessor computes it for a text-to-video block.
        query = attn.norm_q(attn.to_q(hidden_states))
        key = attn.norm_k(attn.to_k(encoder_hidden_states))
        value = attn.to_v(encoder_hidden_states)
        query = query.unflatten(2, (attn.heads, -1))
        key = key.unflatten(2, (attn.heads, -1))
        value = value.unflatten(2, (attn.heads, -1))
        text = dispatch_attention_fn(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False, backend=backend
        )
        hidden = text.flatten(2, 3).type_as(query)

        context = self.context
        ready = bank.ready
        if ready is None:  # called outside an expert (its pre-hook prepares the bank)
            ready = bank.prepare(
                hidden_states.device, hidden_states.dtype, context.grid, context.sequence_shard
            )
        tokens, strengths, masks = ready
        if tokens.shape[0] != hidden_states.shape[0]:
            raise ValueError(
                f"identity batch {tokens.shape[0]} differs from the denoising batch {hidden_states.shape[0]}"
            )
        if bank.regions is not None and (masks is None or masks.shape[-1] != hidden_states.shape[1]):
            raise ValueError(
                f"screen regions need the latent grid; {context.grid} in {context.sequence_shard[1]} "
                f"sequence shard(s) does not give {hidden_states.shape[1]} tokens"
            )
        for character in bank.characters:
            character_tokens = tokens[:, character].to(query.dtype)
            # (.to: under training's autocast the float32 adapter's norm may answer in float32)
            key_id = self.block.norm_k_id(self.block.to_k_id(character_tokens)).to(query.dtype)
            key_id = key_id.unflatten(2, (attn.heads, -1))
            value_id = self.block.to_v_id(character_tokens).to(query.dtype).unflatten(2, (attn.heads, -1))
            identity = dispatch_attention_fn(
                query, key_id, value_id, attn_mask=None, dropout_p=0.0, is_causal=False, backend=backend
            )
            weight = strengths[:, character, None, None]
            if masks is not None:
                weight = weight * masks[:, character, :, None]
            hidden = hidden + weight * identity.flatten(2, 3).type_as(query)
            if not torch.compiler.is_compiling():  # a counter for tests, kept out of compiled graphs
                self.context.identity_calls[self.expert] = self.context.identity_calls.get(self.expert, 0) + 1

        hidden = attn.to_out[0](hidden)
        return attn.to_out[1](hidden)  # type: ignore[no-any-return]


@dataclass
class InstalledAdapter:
    """An adapter attached to a pipeline's experts; ``remove()`` restores the original processors."""

    adapter: IdentityAdapter
    context: IdentityContext
    _restore: list[tuple[Any, Any]]
    _hooks: list[Any]

    def remove(self) -> None:
        for attn, processor in self._restore:
            attn.set_processor(processor)
        for hook in self._hooks:
            hook.remove()
        self._restore.clear()
        self._hooks.clear()


def install(
    adapter: IdentityAdapter,
    experts: dict[str, nn.Module],
    context: IdentityContext | None = None,
    *,
    cast: bool = True,
) -> InstalledAdapter:
    """Put the identity processor on every block's attn2 of each expert (by name: transformer, transformer_2).

    The adapter's block weights move to each expert's device, and to its dtype unless ``cast`` is off (the
    trainer keeps float32 master weights and computes under autocast).
    """
    context = context or IdentityContext()
    restore: list[tuple[Any, Any]] = []
    hooks = []
    for name, transformer in experts.items():
        if name not in adapter.blocks:
            raise ValueError(f"the adapter has no weights for expert {name!r}")
        blocks = transformer.blocks  # type: ignore[union-attr]
        adapters = adapter.blocks[name]
        if len(blocks) != len(adapters):  # type: ignore[arg-type]
            raise ValueError(f"expert {name!r} has {len(blocks)} blocks, the adapter {len(adapters)}")  # type: ignore[arg-type]
        parameter = next(transformer.parameters())
        for block, block_adapter in zip(blocks, adapters, strict=True):  # type: ignore[call-overload]
            attn = block.attn2
            if attn.add_k_proj is not None:
                raise ValueError(
                    "the identity adapter supports text-to-video blocks (no image cross-attention)"
                )
            if attn.inner_dim != adapter.config.inner_dim:
                raise ValueError(
                    f"expert {name!r} has inner dim {attn.inner_dim}, the adapter {adapter.config.inner_dim}"
                )
            block_adapter.to(device=parameter.device, dtype=parameter.dtype if cast else None)
            restore.append((attn, attn.processor))
            attn.set_processor(IdentityAttnProcessor(attn.processor, block_adapter, context, name))
        hooks.append(transformer.register_forward_pre_hook(context._before_expert, with_kwargs=True))
    return InstalledAdapter(adapter, context, restore, hooks)


def identity_bank(
    adapter: IdentityAdapter,
    identities: Sequence[Sequence[tuple[torch.Tensor, float]]],
    device: torch.device | str,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (batch, characters, tokens, dim) and strengths (batch, characters) for a batch of samples.

    ``identities[i]`` lists sample i's characters as (z_id, identity_strength); samples with fewer
    characters are padded with strength 0.
    """
    if any(len(sample) > MAX_CHARACTERS for sample in identities):
        raise ValueError(f"at most {MAX_CHARACTERS} characters per shot")
    characters = max((len(sample) for sample in identities), default=0)
    batch = len(identities)
    config = adapter.config
    z_ids = torch.zeros(batch, max(characters, 1), config.identity_dim)
    strengths = torch.zeros(batch, max(characters, 1))
    for index, sample in enumerate(identities):
        for slot, (z_id, strength) in enumerate(sample):
            if z_id.shape != (config.identity_dim,):
                raise ValueError(f"z_id must have shape ({config.identity_dim},), got {tuple(z_id.shape)}")
            z_ids[index, slot] = z_id.float()
            strengths[index, slot] = float(strength)
    projector_parameter = next(adapter.projector.parameters())
    tokens = adapter.projector(z_ids.to(projector_parameter.device, projector_parameter.dtype))
    return tokens.to(device=device, dtype=dtype), strengths.to(device=device, dtype=dtype)

"""A tiny Wan 2.2 of the real classes, built from config with random weights: for tests, the demo and CPUs.

Everything here is made in code (the tokenizer too); nothing is read from a model hub. Its videos are
noise: whatever runs on it must say so (``ModelInfo.random_weights``).
"""

from __future__ import annotations

from typing import Any

import torch

#: The model id reported for the tiny random model.
TINY_MODEL_ID = "tiny-wan2.2-random"
#: Wan 2.2 A14B's switch from the high-noise to the low-noise expert, as a fraction of the timesteps.
BOUNDARY_RATIO = 0.875
TEXT_LENGTH = 512


#: The tiny experts' width; split into 2 heads by default (4 or 6 divide it too: Ulysses context
#: parallelism over 4 CPU ranks needs 4 heads).
INNER_DIM = 24


def tiny_transformer_config(heads: int = 2) -> dict[str, Any]:
    return {
        "patch_size": (1, 2, 2),
        "num_attention_heads": heads,
        "attention_head_dim": INNER_DIM // heads,
        "in_channels": 16,
        "out_channels": 16,
        "text_dim": 32,
        "freq_dim": 256,
        "ffn_dim": 32,
        "num_layers": 2,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "rope_max_seq_len": 1024,  # as Wan 2.2: positions for 720p frames (90 x 160 patches)
    }


def byte_tokenizer() -> Any:
    """A byte-level tokenizer (256 byte tokens, no merges) with T5's pad/eos/unk convention."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    # Special tokens, not secrets (ruff's S106 reads *_token= as a password).
    pad, eos, unk = "<pad>", "</s>", "<unk>"
    vocab = {pad: 0, eos: 1, unk: 2}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=unk))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[(eos, 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=pad,
        eos_token=eos,
        unk_token=unk,
        model_max_length=TEXT_LENGTH,
    )


def tiny_scheduler() -> Any:
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000, flow_shift=3.0
    )


def tiny_components(seed: int = 0, vace: bool = False, heads: int = 2) -> dict[str, Any]:
    """Components of a tiny two-expert WanPipeline (``vace``: WanVACEPipeline), seeded random weights."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(
        base_dim=16,
        z_dim=16,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    tokenizer = byte_tokenizer()
    text_encoder = UMT5EncoderModel(
        UMT5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_heads=2,
            relative_attention_num_buckets=8,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
        )
    )
    experts: list[Any]
    if vace:
        config = {**tiny_transformer_config(heads), "vace_layers": [0], "vace_in_channels": 96}
        experts = [WanVACETransformer3DModel(**config) for _ in range(2)]
    else:
        experts = [WanTransformer3DModel(**tiny_transformer_config(heads)) for _ in range(2)]
    for module in (vae, text_encoder, *experts):
        module.eval()
    return {
        "transformer": experts[0],
        "transformer_2": experts[1],
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "scheduler": tiny_scheduler(),
        "boundary_ratio": BOUNDARY_RATIO,
    }


def tiny_pipeline(seed: int = 0, heads: int = 2) -> Any:
    """The stock diffusers two-expert WanPipeline on the tiny random model."""
    from diffusers import WanPipeline

    return WanPipeline(**tiny_components(seed, heads=heads))


def tiny_vace_pipeline(seed: int = 0, share_with: Any = None, heads: int = 2) -> Any:
    """The stock two-expert WanVACEPipeline on tiny random VACE experts (sharing ``share_with``'s text
    encoder, tokenizer and VAE when given)."""
    from diffusers import WanVACEPipeline

    components = tiny_components(seed + 1, vace=True, heads=heads)
    if share_with is not None:
        for name in ("vae", "text_encoder", "tokenizer"):
            components[name] = getattr(share_with, name)
    return WanVACEPipeline(**components)

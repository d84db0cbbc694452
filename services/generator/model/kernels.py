"""Which flash-attention kernel PyTorch's scaled-dot-product attention runs on this GPU.

diffusers' ``native`` attention backend calls ``torch.nn.functional.scaled_dot_product_attention``; on
CUDA its flash path is FlashAttention-2, which on Hopper reaches about half of the card's bf16 rate. At
Wan 2.2 sizes half (480p) to two thirds (720p) of a step's FLOPs are self-attention, so the kernel matters
more than anything else on one GPU. PyTorch can route that same flash path to FlashAttention-4 (the
``flash-attn-4`` package, CuTe DSL kernels for compute capability 9.0 and 10.x) through
``torch.nn.attention.activate_flash_attention_impl``: the model, the context-parallel all-to-alls and
torch.compile keep calling SDPA, only the kernel underneath changes. The results are the same attention
up to floating-point summation order.

The choice is process-wide (it replaces SDPA's CUDA flash kernel in the dispatcher), so a replica makes it
once, in each rank, before warming up.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
import types
from typing import Any

log = logging.getLogger("likeness.generator.kernels")

#: Settings values: "" keeps PyTorch's own flash kernel; "auto" takes FA4 where it runs.
FLASH_CHOICES = ("", "auto", "FA3", "FA4")
#: The Python modules that hold each implementation's kernels.
_MODULES = {"FA3": "flash_attn_interface", "FA4": "flash_attn.cute.interface"}


_FA4_ADAPTER = "likeness_generator_fa4_adapter"


class FlashKernelUnavailable(RuntimeError):
    """The flash-attention kernel asked for cannot run in this process."""


def _import_error(module: str) -> str:
    """Why ``module`` cannot be imported here (an empty string when it can)."""
    if importlib.util.find_spec(module.partition(".")[0]) is None:
        return f"the module {module} is not installed"
    try:
        importlib.import_module(module)
    except Exception as error:  # noqa: BLE001 - any import failure means the kernel cannot run
        return f"the module {module} does not import ({type(error).__name__}: {error})"
    return ""


def flash_kernel_support(device: Any) -> dict[str, str]:
    """Why each implementation cannot run on ``device`` (an empty string where it can)."""
    import torch

    reasons: dict[str, str] = {}
    registry = getattr(torch.nn.attention, "list_flash_attention_impls", None)
    registered = set(registry()) if registry is not None else set()
    major = torch.cuda.get_device_capability(device)[0] if torch.device(device).type == "cuda" else 0
    for impl, module in _MODULES.items():
        if registry is None:
            reasons[impl] = f"torch {torch.__version__} cannot swap SDPA's flash kernel"
        elif impl not in registered:
            reasons[impl] = f"torch {torch.__version__} does not know {impl}"
        elif impl == "FA3" and major != 9:
            reasons[impl] = "FA3 runs on compute capability 9.0 only"
        elif impl == "FA4" and major not in (9, 10):
            reasons[impl] = "FA4 runs on compute capability 9.0 and 10.x only"
        else:
            reasons[impl] = _import_error(module)
    return reasons


def _register_fa4() -> None:
    """Register FA4 with PyTorch through an adapter module: PyTorch's FA4 glue unpacks two values
    (output, log-sum-exp) from ``_flash_attn_fwd`` and three gradients from ``_flash_attn_bwd``, while
    flash-attn-4's betas return more (optional extras after those). The adapter hands PyTorch exactly what
    it unpacks, so the pairing does not depend on which beta is installed."""
    from torch.nn.attention import _fa4, register_flash_attention_impl

    interface = importlib.import_module(_MODULES["FA4"])
    adapter = types.ModuleType(_FA4_ADAPTER)

    def forward(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        result = interface._flash_attn_fwd(*args, **kwargs)
        return result[0], result[1]

    def backward(*args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
        result = interface._flash_attn_bwd(*args, **kwargs)
        return result[0], result[1], result[2]

    adapter._flash_attn_fwd = forward  # type: ignore[attr-defined]
    adapter._flash_attn_bwd = backward  # type: ignore[attr-defined]
    sys.modules[_FA4_ADAPTER] = adapter
    register_flash_attention_impl(
        "FA4", register_fn=functools.partial(_fa4.register_flash_attention_fa4, module_path=_FA4_ADAPTER)
    )


def use_flash_kernel(choice: str, device: Any) -> str:
    """Route SDPA's flash path to ``choice`` on this process; returns what runs ("" for PyTorch's own).

    ``auto`` takes FA4 when it can run here and otherwise keeps PyTorch's kernel, saying why; a named
    implementation that cannot run raises :class:`FlashKernelUnavailable`."""
    if choice not in FLASH_CHOICES:
        raise ValueError(f"flash attention must be one of {FLASH_CHOICES}, not {choice!r}")
    if not choice:
        return ""
    reasons = flash_kernel_support(device)
    impl = "FA4" if choice == "auto" else choice
    if reasons[impl]:
        if choice == "auto":
            log.info("keeping PyTorch's flash attention: %s", reasons[impl])
            return ""
        raise FlashKernelUnavailable(f"flash attention {impl}: {reasons[impl]}")
    import torch

    if impl == "FA4":
        _register_fa4()
    torch.nn.attention.activate_flash_attention_impl(impl)
    # On Hopper PyTorch prefers cuDNN's attention to its flash kernel for these shapes, and the swap
    # replaces only the flash kernel: take cuDNN out of SDPA's choice so that the flash path is taken.
    torch.backends.cuda.enable_cudnn_sdp(False)
    log.info("scaled-dot-product attention runs %s", impl)
    return impl

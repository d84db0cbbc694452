"""Choosing the flash-attention kernel under SDPA (kernels.py): refusals name the reason, ``auto`` falls
back, and the FA4 adapter hands PyTorch exactly what its glue unpacks."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from likeness.generator.model import kernels
from likeness.generator.serve_app import VideoModelArgs


def test_auto_keeps_pytorchs_kernel_where_no_other_runs() -> None:
    assert kernels.use_flash_kernel("", "cpu") == ""
    assert kernels.use_flash_kernel("auto", "cpu") == ""
    assert torch.backends.cuda.cudnn_sdp_enabled()


@pytest.mark.parametrize("impl", ["FA3", "FA4"])
def test_a_named_kernel_that_cannot_run_is_refused_with_the_reason(impl: str) -> None:
    with pytest.raises(kernels.FlashKernelUnavailable, match=f"{impl}.*compute capability"):
        kernels.use_flash_kernel(impl, "cpu")


def test_an_unknown_kernel_is_refused_by_the_settings_and_by_the_call() -> None:
    with pytest.raises(ValueError, match="flash attention must be one of"):
        kernels.use_flash_kernel("FA5", "cpu")
    with pytest.raises(ValidationError):
        VideoModelArgs.model_validate({"flash_attention": "FA5"})
    assert VideoModelArgs.model_validate({"flash_attention": "auto"}).flash_attention == "auto"


def test_the_fa4_adapter_returns_what_pytorchs_glue_unpacks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def forward(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        calls.append((args, kwargs))
        return "out", "lse", None, None, None

    def backward(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return "dq", "dk", "dv", None

    interface = types.ModuleType(kernels._MODULES["FA4"])
    interface._flash_attn_fwd = forward  # type: ignore[attr-defined]
    interface._flash_attn_bwd = backward  # type: ignore[attr-defined]
    real_import = kernels.importlib.import_module
    monkeypatch.setattr(
        kernels.importlib,
        "import_module",
        lambda name: interface if name == kernels._MODULES["FA4"] else real_import(name),
    )
    registered: dict[str, Any] = {}
    monkeypatch.setattr(
        torch.nn.attention,
        "register_flash_attention_impl",
        lambda impl, *, register_fn: registered.update({impl: register_fn}),
    )
    monkeypatch.delitem(sys.modules, kernels._FA4_ADAPTER, raising=False)

    kernels._register_fa4()

    adapter = sys.modules[kernels._FA4_ADAPTER]
    assert adapter._flash_attn_fwd(1, 2, 3, return_lse=True) == ("out", "lse")
    assert calls == [((1, 2, 3), {"return_lse": True})]
    assert adapter._flash_attn_bwd() == ("dq", "dk", "dv")
    assert registered["FA4"].keywords == {"module_path": kernels._FA4_ADAPTER}

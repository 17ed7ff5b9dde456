"""No float64 on the accelerator: MPS has none, so decoding and long-clip stitching must do their float64
work on the CPU. Runs without the hardware: the real model runs on torch's `meta` device (shapes and dtypes
only), and a dispatch mode stands in for the accelerator's memory (see `MetaAccelerator`)."""

from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from engine.model.device import auto_device_type, default_dtype
from engine.model.generation import GenerationRequest
from engine.model.testing import tiny_random_model

torch.set_num_threads(1)
aten = torch.ops.aten


class MetaAccelerator(TorchDispatchMode):
    """Every aten op runs for real; records each float64 tensor produced off the CPU, and makes copies from
    the meta device back to the CPU come out as seeded random numbers of the right shape and dtype (the
    values a real device would hold are unknown; the decoder only needs finite ones)."""

    def __init__(self) -> None:
        super().__init__()
        self.float64_off_cpu: list[str] = []
        self.generator = torch.Generator().manual_seed(0)

    def _random_like(self, shape: torch.Size, dtype: torch.dtype) -> torch.Tensor:
        if dtype.is_floating_point:
            return torch.randn(shape, generator=self.generator, dtype=dtype)
        return torch.zeros(shape, dtype=dtype)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        if func is aten._to_copy.default and args[0].is_meta and kwargs.get("device", args[0].device).type == "cpu":
            return self._random_like(args[0].shape, kwargs.get("dtype") or args[0].dtype)
        if func is aten.copy_.default and args[1].is_meta and not args[0].is_meta:
            return args[0].copy_(self._random_like(args[1].shape, args[1].dtype))
        out = func(*args, **kwargs)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.device.type != "cpu":
                self.float64_off_cpu.append(str(func))
        return out


def test_generation_on_a_device_never_makes_a_float64_tensor_there():
    model = tiny_random_model(device="meta")
    model.overlap_frames = 30
    previews = []
    with MetaAccelerator() as accelerator:
        # 14 s is longer than the 12 s window: two windows, stitched through the heading transforms.
        motions = model.generate_batch(
            [GenerationRequest("a person walks", 14.0, steps=2), GenerationRequest("jump", 2.0, steps=2)],
            on_step=lambda event: previews.append(event.preview(0)),
        )
    assert accelerator.float64_off_cpu == []
    assert [m[0].frames for m in motions] == [420, 60]
    assert motions[0][0].root.dtype.name == "float32" and previews


def test_auto_device_prefers_cuda_then_mps_then_cpu():
    assert auto_device_type(cuda=True, mps=True) == "cuda"
    assert auto_device_type(cuda=False, mps=True) == "mps"
    assert auto_device_type(cuda=False, mps=False) == "cpu"


def test_default_dtype_per_device():
    assert default_dtype("cuda", bf16_supported=True) == torch.bfloat16
    assert default_dtype("cuda", bf16_supported=False) == torch.float16
    assert default_dtype("mps", bf16_supported=False) == torch.float16
    assert default_dtype("cpu", bf16_supported=False) == torch.float32

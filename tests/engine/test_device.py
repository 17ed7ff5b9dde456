"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from engine.model.device import DeviceError, dtype_name, resolve_device, resolve_dtype


def test_auto_device_is_an_available_one():
    device = resolve_device(None)
    if torch.cuda.is_available():
        assert device.type == "cuda"
    else:
        assert device.type in ("mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_asking_for_missing_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        resolve_device("cuda")


def test_dtypes_by_name_and_cpu_default():
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("bf16", cpu) == torch.bfloat16 and resolve_dtype("fp16", cpu) == torch.float16
    assert resolve_dtype(torch.bfloat16, cpu) == torch.bfloat16 and dtype_name(torch.bfloat16) == "bf16"
    with pytest.raises(DeviceError, match="fp32, bf16 or fp16"):
        resolve_dtype("int8", cpu)

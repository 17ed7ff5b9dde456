"""Device and precision selection: cuda, then mps, then cpu; fp32, bf16 or fp16 by name."""

from __future__ import annotations

import torch

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


class DeviceError(ValueError):
    """A device or precision that is unknown or not available here."""


def auto_device_type(cuda: bool, mps: bool) -> str:
    """The device "auto" picks given what is available: cuda, then mps, then cpu.

    MPS has no float64; the pipeline keeps its float64 work on the CPU (`engine.model.windows.HOST`)."""
    if cuda:
        return "cuda"
    return "mps" if mps else "cpu"


def default_dtype(device_type: str, bf16_supported: bool) -> torch.dtype:
    """The "auto" precision: bf16 on a GPU that supports it, fp16 on other GPUs and MPS, fp32 on CPU."""
    if device_type == "cuda":
        return torch.bfloat16 if bf16_supported else torch.float16
    if device_type == "mps":
        return torch.float16
    return torch.float32


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """`None`/"auto" picks cuda, then mps, then cpu; an explicit device must be available."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device(auto_device_type(torch.cuda.is_available(), _mps_available()))
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {name!r} requested but MPS is not available; use --device cpu")
    return device


def resolve_dtype(name: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """`None`/"auto": see `default_dtype`."""
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise DeviceError(f"dtype {name} is not one of fp32, bf16, fp16")
        return name
    if name in (None, "", "auto"):
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return default_dtype(device.type, bf16)
    try:
        return DTYPES[name.lower()]
    except KeyError:
        raise DeviceError(f"unknown dtype {name!r}; use fp32, bf16 or fp16") from None


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))

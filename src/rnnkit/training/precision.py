"""Device and mixed-precision choices, decided in one place."""

from __future__ import annotations

import contextlib

import torch

from rnnkit.errors import RnnkitError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or name.split(":")[0] not in ("cpu", "cuda"):
        raise RnnkitError(f"--device must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RnnkitError("--device cuda asked for, but PyTorch sees no CUDA GPU; use --device cpu")
    return torch.device(name)


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 matrix units (AVX-512 BF16 or AMX), where bf16 pays off."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' -> bf16 on CUDA GPUs that support it (else fp16), bf16 on CPUs with bf16 units, else fp32.

    bf16 is the automatic choice only where it was measured to train as well as fp32 (BENCHMARKS.md).
    """
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    if name == "fp16" and device.type != "cuda":
        raise RnnkitError("--precision fp16 needs a CUDA GPU; on the CPU use --precision bf16 or fp32")
    return name


def autocast(precision: str, device: torch.device):
    """The autocast context for a precision ('fp32' gives a no-op context)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)

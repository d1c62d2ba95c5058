"""Fused C++ kernels for the bf16 LSTM step (``csrc/lstm_kernels.cpp``), compiled for this CPU on first use.

``fast_lstm`` runs one GEMM per time step plus the cell's pointwise math. In Python that math is
about fifteen small PyTorch kernels per step; ``torch.ops.rnnkit.lstm_forward_step`` and
``lstm_backward_step`` do it in one vectorized pass each (``dropout_mask`` draws dropout masks),
which makes a 2x512 training step 10-15% faster (BENCHMARKS.md). The library is built with
``$CXX`` or ``c++`` against the installed PyTorch, once per (source, PyTorch version, compiler,
CPU), into ``cache_dir()/kernels``, smoke-tested in a separate process, and loaded with
``torch.ops.load_library``. When no library can be built (no compiler, an unusual platform) rnnkit
says so once and runs the same math through PyTorch ops; ``RNNKIT_KERNELS=0`` skips the build.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import torch

from rnnkit.fileio import cache_dir

logger = logging.getLogger(__name__)

KERNELS_ENV = "RNNKIT_KERNELS"
SOURCES = (Path(__file__).parent / "csrc" / "lstm_kernels.cpp",  # the training step's pointwise math
           Path(__file__).parent / "csrc" / "lm_step.cpp")  # a whole LSTM LM step for sampling
BUILD_TIMEOUT_S = 600

_lock = threading.Lock()
_loaded: dict[str, object] = {}  # "ops": torch.ops.rnnkit, or None when unavailable in this process


def lstm_kernels():
    """``torch.ops.rnnkit`` holding the fused LSTM step kernels, or None when they cannot be used here."""
    with _lock:
        if "ops" not in _loaded:
            _loaded["ops"] = _load()
        return _loaded["ops"]


def _registered() -> bool:
    try:
        return hasattr(torch.ops.rnnkit, "lstm_forward_step")
    except (AttributeError, RuntimeError):
        return False


def _load():
    if os.environ.get(KERNELS_ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if not _registered():
        try:
            torch.ops.load_library(str(_build()))
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            logger.warning("fused LSTM kernels unavailable (%s); training uses the slower PyTorch ops "
                           "(set %s=0 to skip the attempt)", e, KERNELS_ENV)
            return None
    try:
        agrees = _agrees_with_pytorch()
    except RuntimeError as e:
        agrees = False
        logger.debug("kernel self-check failed: %s", e)
    if not agrees:
        logger.warning("the fused LSTM kernels built here disagree with PyTorch's math; not using them")
        return None
    return torch.ops.rnnkit


def compilers() -> list[str]:
    """The C++ compilers to try, in order: ``$CXX`` if set, then ``c++``; only those on the PATH."""
    names = [n for n in (os.environ.get("CXX"), "c++") if n]
    return [n for i, n in enumerate(names) if n not in names[:i] and shutil.which(n)]


def compile_command(compiler: str, output: Path) -> list[str]:
    """The ``compiler`` invocation that builds the kernels into ``output`` (a shared library)."""
    root = Path(torch.__file__).parent
    # Link the OpenMP runtime that PyTorch itself loaded, where it bundles one (possibly under a
    # hashed name), so that the kernels' parallel loops use PyTorch's thread pool, not a second one.
    own_openmp = sorted(str(p) for p in (root / "lib").glob("libgomp*.so*"))[:1]
    return [compiler, "-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-fopenmp", "-fPIC", "-shared",
            "-std=c++20",
            f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}",
            f"-I{root / 'include'}", f"-I{root / 'include' / 'torch' / 'csrc' / 'api' / 'include'}",
            *map(str, SOURCES), "-o", str(output), *own_openmp, f"-L{root / 'lib'}", "-lc10", "-ltorch_cpu"]


def _cpu_signature() -> str:
    """Model name and feature flags: a library built with -march=native only runs on a CPU like this one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return "\n".join(sorted({ln for ln in lines if ln.startswith(("model name", "flags"))}))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _library_path(compiler: str) -> Path:
    """Where the library built by ``compiler`` for this source, PyTorch and CPU is cached."""
    command = shlex.join(compile_command(compiler, Path("OUT")))
    key = hashlib.sha256(b"\0".join([*(s.read_bytes() for s in SOURCES), torch.__version__.encode(), command.encode(),
                                     _cpu_signature().encode()])).hexdigest()[:16]
    return cache_dir() / "kernels" / f"rnnkit_lstm_{key}.so"


def _build() -> Path:
    """Path of a compiled library that passed the smoke test, compiling one first if this machine has none.

    Each compiler of ``compilers()`` is tried in turn. A library counts only after a separate process
    has loaded it and seen a good call work and a bad call raise: a compiler whose C++ runtime does not
    match PyTorch's (seen with a newer GCC as $CXX) builds libraries that crash the process when an op
    raises, and that must not happen in the user's training process.
    """
    found = compilers()
    if not found:
        raise RuntimeError(f"no C++ compiler found (looked for {os.environ.get('CXX') or 'c++'!r}; set CXX)")
    failures = []
    for compiler in found:
        target = _library_path(compiler)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        logger.info("compiling the fused LSTM kernels for this CPU with %s (once, about 10 s)", compiler)
        # Build beside the target, then rename: concurrent builds each finish whole and the last rename wins.
        fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".so.part", dir=target.parent)
        os.close(fd)
        try:
            done = subprocess.run(compile_command(compiler, Path(tmp)), capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S)
            if done.returncode != 0:
                errors = [ln for ln in done.stderr.splitlines() if "error" in ln] or done.stderr.splitlines()[-1:]
                failures.append(f"compiling {', '.join(s.name for s in SOURCES)} with {compiler} failed: "
                                f"{errors[0] if errors else done.returncode}")
                continue
            smoke = subprocess.run([sys.executable, "-c", _SMOKE_TEST, tmp], capture_output=True, text=True,
                                   timeout=BUILD_TIMEOUT_S)
            if smoke.returncode != 0:
                failures.append(f"the library {compiler} built failed its smoke test (exit {smoke.returncode})")
                continue
            os.replace(tmp, target)
            return target
        finally:
            Path(tmp).unlink(missing_ok=True)
    raise RuntimeError("; ".join(failures))


#: Run in a fresh process on a newly built library: a good call must work and a bad one must raise.
_SMOKE_TEST = """
import sys, torch
torch.ops.load_library(sys.argv[1])
ops = torch.ops.rnnkit
pre, c = torch.zeros(2, 8, dtype=torch.bfloat16), torch.zeros(2, 2)
ops.lstm_forward_step(pre, c, c.clone(), torch.zeros(2, 2, dtype=torch.bfloat16), pre.clone())
try:
    ops.lstm_forward_step(pre, c, c.clone(), torch.zeros(2, 2), pre.clone())
except RuntimeError:
    sys.exit(0)
sys.exit(3)
"""


def _agrees_with_pytorch() -> bool:
    """One small forward and backward step against the same formulas in PyTorch ops: a miscompiled
    library (say, a compiler bug at -march=native) is refused rather than trusted."""
    gen = torch.Generator().manual_seed(0)
    B, H = 3, 40
    pre = (torch.randn((B, 4 * H), generator=gen) * 3).bfloat16()
    c_prev = torch.randn((B, H), generator=gen)
    c, pre_out = torch.empty((B, H)), torch.empty_like(pre)
    h = torch.empty((B, 2 * H), dtype=torch.bfloat16)[:, H:]  # rows may be strided
    torch.ops.rnnkit.lstm_forward_step(pre, c_prev, c, h, pre_out)
    i, f, sg, o = pre.float().sigmoid().chunk(4, dim=1)
    g = 2 * sg - 1  # the g block is pre-scaled by 2
    c_ref = f * c_prev + i * g
    tanh_c = c_ref.tanh()
    dh, dc = torch.randn((B, H), generator=gen).bfloat16(), torch.randn((B, H), generator=gen)
    dc_t = dc + dh.float() * o * (1 - tanh_c**2)
    dg_ref = torch.cat([dc_t * i * (1 - i) * g, dc_t * f * (1 - f) * c_prev, dc_t * 2 * sg * (1 - sg) * i,
                        dh.float() * o * (1 - o) * tanh_c], dim=1)
    dg, db = torch.empty_like(pre), torch.ones((B, 4 * H))
    torch.ops.rnnkit.lstm_backward_step(pre, c_prev, c, dh, dc, dg, db)
    return (torch.equal(pre_out, pre) and torch.allclose(c, c_ref, rtol=1e-5, atol=1e-6)
            and torch.allclose(dc, dc_t * f, rtol=1e-5, atol=1e-6)
            and torch.allclose(h.float(), o * tanh_c, rtol=1e-2, atol=1e-2)
            and torch.allclose(dg.float(), dg_ref, rtol=1e-2, atol=1e-2)
            and torch.equal(db, 1 + dg.float()))


__all__ = ["KERNELS_ENV", "compile_command", "compilers", "lstm_kernels"]

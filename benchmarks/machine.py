"""The machine line every benchmark prints: lscpu's model name and the vector flags that decide its numbers."""

from __future__ import annotations

import os
import platform
import subprocess

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_line() -> str:
    """lscpu's model name and the vector flags that decide these numbers."""
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines()
        fields = dict(line.split(":", 1) for line in lines if ":" in line)
        flags = fields.get("Flags", "").split()
        model = fields.get("Model name", platform.processor()).strip()
        present = " ".join(f for f in FLAGS if f in flags) or "none of " + ",".join(FLAGS)
        return f"{model}, {os.cpu_count()} CPUs, flags: {present}"
    except (OSError, subprocess.SubprocessError):
        return f"{platform.machine()} {platform.processor()}, {os.cpu_count()} CPUs"

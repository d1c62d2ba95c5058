"""Issue 19, shutdown: SIGTERM saves like Ctrl-C, and a run killed right after its first validation resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rnnkit import checkpoint as ckpt

TINY = ("--hidden-size", "32", "--num-layers", "1", "--embedding-size", "8", "--batch-size", "4", "--seq-len", "16",
        "--precision", "fp32", "--device", "cpu", "--dropout", "0", "--no-progress")


def rnnkit(*args, **kwargs) -> subprocess.Popen:
    """``python -m rnnkit ARGS`` as a child process with this test's environment (PYTHONPATH, caches)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *map(str, args)], env=env, **kwargs)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def validated(run_dir: Path) -> bool:
    metrics = run_dir / ckpt.METRICS_FILE
    return metrics.exists() and '"val_loss"' in metrics.read_text()


def test_sigterm_saves_like_ctrl_c(corpus, tmp_path):
    out, log = tmp_path / "run", tmp_path / "err.txt"
    with open(log, "wb") as err:
        proc = rnnkit("train", "lm", "--data", corpus, "--out", out, "--max-steps", "100000", "--eval-every", "10",
                      *TINY, stderr=err)
        try:
            wait_for(lambda: validated(out))  # training, with its signal handlers in place
            proc.send_signal(signal.SIGTERM)  # what `docker stop` and batch schedulers send
            code = proc.wait(timeout=60)
        finally:
            proc.kill()
    text = log.read_text()
    assert code == 130, text  # as for Ctrl-C
    said = [line for line in text.splitlines() if "SIGTERM" in line]
    assert len(said) == 1 and f"continue with 'rnnkit train --resume {out}'" in said[0], text
    assert "Traceback" not in text
    step = ckpt.load_tensors(out / ckpt.LAST_FILE)["state"]["step"]
    assert step >= 10 and f"at step {step}" in said[0]

    done = subprocess.run([sys.executable, "-m", "rnnkit", "train", "--resume", str(out), "--max-steps",
                           str(step + 4), "--no-progress"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} at step {step}" in done.stderr
    assert ckpt.load_tensors(out / ckpt.LAST_FILE)["state"]["step"] == step + 4


def test_run_killed_after_its_first_validation_resumes(corpus, tmp_path):
    """--save-every stays at its 60 s default: before the fix only best.pt existed at this point."""
    out = tmp_path / "run"
    proc = rnnkit("train", "lm", "--data", corpus, "--out", out, "--max-steps", "100000", "--eval-every", "5",
                  *TINY, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: validated(out))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert (out / ckpt.LAST_FILE).exists()
    done = subprocess.run([sys.executable, "-m", "rnnkit", "train", "--resume", str(out), "--max-steps", "10",
                           "--no-progress"], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (out / ckpt.METRICS_FILE).read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [5, 10]

"""Two CPU processes under torchrun (gloo) train to the same weights as one process on the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import torch

from rnnkit import checkpoint as ckpt

ARGS = ["train", "lm", "--max-steps", "8", "--batch-size", "8", "--seq-len", "16", "--hidden-size", "32",
        "--num-layers", "2", "--embedding-size", "8", "--dropout", "0", "--precision", "fp32", "--device", "cpu",
        "--eval-every", "4", "--lr", "0.01", "--seed", "3", "--no-progress"]


def run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_process_ddp_matches_one_process(corpus, tmp_path):
    single, double = tmp_path / "single", tmp_path / "ddp"
    run([sys.executable, "-m", "rnnkit", *ARGS, "--data", str(corpus), "--out", str(single)], tmp_path)
    result = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                  "-m", "rnnkit", *ARGS, "--data", str(corpus), "--out", str(double)], tmp_path)
    assert result.stderr.count("parameters,") == 1  # only rank 0 logs

    a = ckpt.load_tensors(single / ckpt.LAST_FILE)
    b = ckpt.load_tensors(double / ckpt.LAST_FILE)
    assert a["state"]["step"] == b["state"]["step"] == 8
    assert a["state"]["tokens"] == b["state"]["tokens"]
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    # the carried state of both ranks was gathered into the checkpoint: full global batch of 8 streams
    assert b["carry"][0].shape == a["carry"][0].shape == (2, 8, 32)
    torch.testing.assert_close(b["carry"][0], a["carry"][0], rtol=1e-5, atol=1e-6)
    rows = (double / ckpt.METRICS_FILE).read_text().splitlines()
    assert len(rows) == len((single / ckpt.METRICS_FILE).read_text().splitlines())  # no duplicate logging

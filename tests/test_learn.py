"""docs/learn.md cannot rot: every ```bash and ```python block on the page runs, in order, in one temp folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit
from tests.conftest import SHARED_DATA

PAGE = Path(__file__).resolve().parents[1] / "docs" / "learn.md"
BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)


def blocks() -> list[tuple[str, str]]:
    """(language, code) of every bash and python block of the page, in order."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(PAGE.read_text(encoding="utf-8"))]


def test_the_page_has_a_runnable_example_for_every_concept():
    text = PAGE.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    for concept in ("recurrence", "Vanishing gradients", "learn, forget, remember, use", "The GRU", "truncating",
                    "Stateful batching", "temperature and top-k", "Many-to-one", "One-to-many",
                    "Sequence to sequence, and attention", "Parallel-scan cells (minGRU, minLSTM)", "Seeing inside"):
        section = next((s for s in sections if concept in s.splitlines()[0]), None)
        assert section is not None, f"docs/learn.md has no section on {concept!r}"
        if "PLACEHOLDER" not in section:
            assert BLOCK.search(section) and "Look at:" in section and "Source: `src/rnnkit/" in section, concept
            for path in re.findall(r"`(src/rnnkit/[\w/]+\.py)`", section):
                assert (PAGE.parents[1] / path).is_file(), f"{concept}: {path} does not exist"


@pytest.mark.slow
def test_every_command_and_code_block_of_the_page_runs(tmp_path):
    if not (SHARED_DATA / "tinyshakespeare" / "input.txt").is_file():
        pytest.fail(f"the shared data folder {SHARED_DATA} is missing; set RNNKIT_DATA_DIR")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "rnnkit").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rnnkit "$@"\n')
    (shim / "rnnkit").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    source = str(Path(rnnkit.__file__).resolve().parents[1])  # the rnnkit under test, wherever the blocks run
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}", "RNNKIT_DATA_DIR": str(SHARED_DATA),
           "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    transcript = []
    for k, (language, code) in enumerate(blocks()):
        command = ["bash", "-euo", "pipefail", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"block {k} ({language}) failed:\n{code}\n--- stdout\n{done.stdout}\n" \
                                     f"--- stderr\n{done.stderr}"
        transcript.append(f"--- block {k}\n{done.stdout}{done.stderr}")
    assert (work / "lstm.html").is_file()
    if os.environ.get("RNNKIT_SHOW_LEARN"):  # to read what the page's blocks print
        print("\n".join(transcript))

"""--help shows each option's default as the task's config dataclass has it (one source of truth)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnkit.cli import build_parser
from rnnkit.models.language_model import LanguageModelConfig


def print_help(*argv: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])


def test_lm_help_takes_defaults_from_the_dataclasses(capsys):
    print_help("train", "lm")
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"(default: {LanguageModelConfig.backend})" in out and LanguageModelConfig.backend == "auto"
    assert f"--hidden-size HIDDEN_SIZE hidden size (default: {LanguageModelConfig.hidden_size})" in out
    assert "(default: fused)" not in out


def test_building_the_parser_imports_no_torch():
    code = "import sys, rnnkit.cli as c; c.build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


@pytest.mark.parametrize("task, flag, config, section, field", [
    ("classify", "--pooling", "rnnkit.tasks.classify:ClassifyConfig", "model", "pooling"),
    ("classify", "--epochs", "rnnkit.tasks.classify:ClassifyConfig", "train", "epochs"),
    ("forecast", "--horizon", "rnnkit.tasks.forecast:ForecastRunConfig", "data", "horizon"),
    ("ngram", "--order", "rnnkit.tasks.ngram:NgramRunConfig", "model", "order"),
    ("word2vec", "--dim", "rnnkit.tasks.word2vec:Word2VecRunConfig", "model", "dim"),
])
def test_every_task_help_shows_its_dataclass_defaults(task, flag, config, section, field, capsys):
    from rnnkit.commands.common import config_default

    print_help("train", task)
    out = " ".join(capsys.readouterr().out.split())
    shown = out.split(f"{flag} {field.upper()} ", 1)[1].split(" --", 1)[0]
    assert shown.endswith(f"(default: {config_default(config, section, field)})")

"""A tqdm progress bar showing loss, bits per token, throughput and ETA."""

from __future__ import annotations

import math
import sys
from typing import Any

from tqdm import tqdm

BITS_PER = ("char", "word", "token")


class Progress:
    """Percent-of-budget bar; the budget may be steps, epochs or time, so the unit is percent."""

    def __init__(self, enabled: bool, token_name: str = "char"):
        self.token_name = token_name
        self.bar = tqdm(total=100.0, unit="%", disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}{postfix}]") if enabled else None
        self.postfix: dict[str, str] = {}

    def update(self, fraction: float, row: dict[str, Any] | None, best_val: float) -> None:
        if self.bar is None:
            return
        if row is not None:
            self.postfix.update({"step": str(row["step"]), "loss": f"{row['loss']:.3f}"})
            if self.token_name in BITS_PER:  # bits per char/word; meaningless per example or point
                self.postfix[f"bp{self.token_name[0]}"] = f"{row['bpt']:.3f}"
            self.postfix[f"{self.token_name}s/s"] = f"{row['tokens_per_s']:,.0f}"
        if math.isfinite(best_val):
            self.postfix["val"] = f"{best_val:.3f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(max(0.0, min(100.0, 100.0 * fraction)) - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

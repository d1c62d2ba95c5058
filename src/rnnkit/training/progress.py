"""Training progress that reads well anywhere: a live tqdm bar on a terminal, plain lines in a log.

On a terminal (stderr is a TTY and ``TQDM_DISABLE`` is not set) the bar redraws in place. Anywhere
else (a file, a pipe, CI, ``nohup``) carriage-return frames would pile up, so one plain line is written
every ``PLAIN_EVERY_FRACTION`` of the budget or every ``PLAIN_EVERY_S`` seconds, whichever comes first.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from tqdm import tqdm

BITS_PER = ("char", "word", "token")
PLAIN_EVERY_FRACTION = 0.1  # a plain progress line at least every 10% of the budget ...
PLAIN_EVERY_S = 30.0  # ... and at least every 30 seconds, whichever comes first


def tqdm_disabled() -> bool:
    """Whether the environment turns tqdm off (``TQDM_DISABLE=1``, as tqdm itself reads it)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def live_bar(stream: TextIO) -> bool:
    """Whether ``stream`` gets the live bar: a terminal, and tqdm not disabled by the environment."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not tqdm_disabled()


def _clock_text(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Percent-of-budget progress; the budget may be steps, epochs or time, so the unit is percent.

    ``start`` is the fraction already done (a resumed run). ``stream``, ``live``, ``every_s`` and ``clock``
    default to stderr, ``live_bar(stream)``, ``PLAIN_EVERY_S`` and ``time.monotonic`` (tests inject them).
    """

    def __init__(self, enabled: bool, token_name: str = "char", *, start: float = 0.0, stream: TextIO | None = None,
                 live: bool | None = None, every_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.token_name = token_name
        self.stream = stream if stream is not None else sys.stderr
        self.live = enabled and (live_bar(self.stream) if live is None else live)
        self.plain = enabled and not self.live
        self.bar = tqdm(total=100.0, unit="%", file=self.stream, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}{postfix}]") if self.live else None
        self.postfix: dict[str, str] = {}
        self.every_s, self.clock = PLAIN_EVERY_S if every_s is None else every_s, clock
        self.started_at = self.last_line_at = clock()
        self.start_fraction = start
        self.next_fraction = self._next_mark(start)

    @staticmethod
    def _next_mark(fraction: float) -> float:
        """The next multiple of PLAIN_EVERY_FRACTION above ``fraction``."""
        return (math.floor(fraction / PLAIN_EVERY_FRACTION + 1e-9) + 1) * PLAIN_EVERY_FRACTION

    def update(self, fraction: float, row: dict[str, Any] | None, best_val: float) -> None:
        if not (self.live or self.plain):
            return
        if row is not None:
            self.postfix.update({"step": str(row["step"]), "loss": f"{row['loss']:.3f}"})
            if self.token_name in BITS_PER:  # bits per char/word; meaningless per example or point
                self.postfix[f"bp{self.token_name[0]}"] = f"{row['bpt']:.3f}"
            self.postfix[f"{self.token_name}s/s"] = f"{row['tokens_per_s']:,.0f}"
        if math.isfinite(best_val):
            self.postfix["val"] = f"{best_val:.3f}"
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=False)
            self.bar.update(max(0.0, min(100.0, 100.0 * fraction)) - self.bar.n)
            return
        now = self.clock()
        if fraction >= self.next_fraction - 1e-9 or now - self.last_line_at >= self.every_s:
            self._line(fraction, now)

    def _line(self, fraction: float, now: float) -> None:
        """One plain line: percent, the figures of the bar's postfix, elapsed and remaining time."""
        fraction = max(0.0, min(1.0, fraction))
        spent = now - self.started_at
        done = fraction - self.start_fraction
        left = f" left {_clock_text(spent * (1.0 - fraction) / done)}" if done > 0 else ""
        ordered = sorted(self.postfix.items(), key=lambda kv: kv[0] == "val")  # the best validation last
        figures = "".join(f"{k} {v} " for k, v in ordered)
        print(f"rnnkit: {100 * fraction:3.0f}% {figures}elapsed {_clock_text(spent)}{left}", file=self.stream,
              flush=True)
        self.last_line_at = now
        self.next_fraction = self._next_mark(fraction)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.live = self.plain = False

"""Gate saturation (Karpathy et al. 2015, Fig. 3): how often each unit's gate is nearly shut or wide open.

A sigmoid gate below 0.1 is *left-saturated* (it blocks), above 0.9 *right-saturated* (it passes). For each
layer and gate, every unit becomes one point: (fraction of steps left-saturated, fraction right-saturated).
Forget gates of cells that remember for long lie near the right-saturated axis; a gate that is never
saturated sits near the origin. Only the sigmoid gates are drawn (LSTM i, f, o; GRU r, z): the candidates
g and n are tanh values, not gates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnkit.inspect.recording import Recording

LOW, HIGH = 0.1, 0.9
SIGMOID_GATES = {"lstm": ("i", "f", "o"), "gru": ("r", "z")}
GATE_TITLES = {"i": "input gate", "f": "forget gate", "o": "output gate", "r": "reset gate", "z": "update gate"}
LAYER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass
class Saturation:
    """Saturation counts, added to one recording (or window) at a time.

    ``fractions()`` gives gate -> (left, right), each (L, D*H): the fraction of steps each unit of each
    layer spent below ``LOW`` and above ``HIGH``.
    """

    cell: str
    steps: int = 0
    left: dict[str, np.ndarray] = field(default_factory=dict)  # gate -> (L, D*H) counts
    right: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def gates(self) -> tuple[str, ...]:
        return SIGMOID_GATES.get(self.cell, ())

    def add(self, recording: Recording) -> None:
        """Count the steps of ``recording`` (gates (L, D, T, H))."""
        for gate in self.gates:
            g = recording.gates[gate]  # (L, D, T, H)
            low = (g < LOW).sum(axis=2).reshape(g.shape[0], -1)  # (L, D*H)
            high = (g > HIGH).sum(axis=2).reshape(g.shape[0], -1)
            self.left[gate] = self.left.get(gate, 0) + low
            self.right[gate] = self.right.get(gate, 0) + high
        self.steps += recording.steps

    def fractions(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """gate -> (left-saturated, right-saturated) fractions, each (L, D*H)."""
        n = max(self.steps, 1)
        return {g: (self.left[g] / n, self.right[g] / n) for g in self.gates if g in self.left}

    def to_dict(self) -> dict:
        """JSON-able fractions, gate -> {"left": [[per unit] per layer], "right": ...}, rounded to 3 places."""
        return {g: {"left": np.round(lo, 3).tolist(), "right": np.round(hi, 3).tolist()}
                for g, (lo, hi) in self.fractions().items()}


def svg(saturation: Saturation, size: int = 220) -> str:
    """One inline SVG scatter per gate (x: left-saturated, y: right-saturated fraction), layers in colours."""
    fractions = saturation.fractions()
    if not fractions:
        return "<p>This cell has no sigmoid gates (a plain RNN), so there is no gate saturation to show.</p>"
    pad = 34
    panels = []
    for gate, (left, right) in fractions.items():
        parts = [f'<svg class="saturation" width="{size + pad + 10}" height="{size + pad + 24}" '
                 f'role="img" aria-label="{GATE_TITLES[gate]} saturation">',
                 f'<text x="{pad + size / 2}" y="14" text-anchor="middle" class="title">{GATE_TITLES[gate]}</text>',
                 f'<rect x="{pad}" y="20" width="{size}" height="{size}" class="frame"/>',
                 f'<line x1="{pad}" y1="20" x2="{pad + size}" y2="{20 + size}" class="diag"/>']
        for tick in (0, 0.5, 1):
            parts.append(f'<text x="{pad + tick * size}" y="{size + 34}" text-anchor="middle">{tick:g}</text>')
            parts.append(f'<text x="{pad - 4}" y="{20 + size - tick * size + 4}" text-anchor="end">{tick:g}</text>')
        parts.append(f'<text x="{pad + size / 2}" y="{size + pad + 20}" text-anchor="middle">left-saturated '
                     f'(&lt; {LOW})</text>')
        parts.append(f'<text transform="translate(10 {20 + size / 2}) rotate(-90)" text-anchor="middle">'
                     f'right-saturated (&gt; {HIGH})</text>')
        for layer in range(left.shape[0]):
            colour = LAYER_COLOURS[layer % len(LAYER_COLOURS)]
            for x, y in zip(left[layer], right[layer]):
                parts.append(f'<circle cx="{pad + x * size:.1f}" cy="{20 + size - y * size:.1f}" r="2.2" '
                             f'fill="{colour}" fill-opacity="0.55"/>')
        parts.append("</svg>")
        panels.append("".join(parts))
    layers = next(iter(fractions.values()))[0].shape[0]
    legend = " ".join(f'<span style="color:{LAYER_COLOURS[k % len(LAYER_COLOURS)]}">&#9679; layer {k + 1}</span>'
                      for k in range(layers))
    return f'<div class="panels">{"".join(panels)}</div><p class="legend">{legend}</p>'


def save_png(saturation: Saturation, folder: str | Path) -> list[Path]:
    """The same scatter as PNG files, one per layer (``saturation_layer1.png``, ...) with a panel per gate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fractions = saturation.fractions()
    if not fractions:
        return []
    layers = next(iter(fractions.values()))[0].shape[0]
    written = []
    for layer in range(layers):
        fig, axes = plt.subplots(1, len(fractions), figsize=(3.2 * len(fractions), 3.4), squeeze=False)
        for ax, (gate, (left, right)) in zip(axes[0], fractions.items()):
            ax.scatter(left[layer], right[layer], s=8, alpha=0.6, color=LAYER_COLOURS[layer % len(LAYER_COLOURS)])
            ax.plot([0, 1], [1, 0], color="#bbb", lw=0.8)
            ax.set(xlim=(0, 1), ylim=(0, 1), title=GATE_TITLES[gate], xlabel=f"left-saturated (< {LOW})",
                   ylabel=f"right-saturated (> {HIGH})")
            ax.set_aspect("equal")
        fig.suptitle(f"layer {layer + 1}: gate saturation")
        fig.tight_layout()
        path = folder / f"saturation_layer{layer + 1}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


__all__ = ["HIGH", "LOW", "SIGMOID_GATES", "Saturation", "save_png", "svg"]

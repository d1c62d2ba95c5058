"""rnnkit: recurrent neural networks that work."""

__version__ = "0.1.0"

"""The performance engine: rnnkit's bf16 CPU LSTM training path and its compiled step kernels.

``fast_lstm`` runs a stacked LSTM with bf16 GEMMs and a hand-written backward; ``kernels`` compiles
``csrc/lstm_kernels.cpp`` on first use. Models reach it only through ``rnnkit.layers`` (``Recurrent``'s
``auto`` backend and ``layers.dropout``), so ``rnnkit.cells`` reads as the equations alone.
"""

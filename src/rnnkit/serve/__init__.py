"""``rnnkit serve``: trained runs behind an HTTP API with continuously batched, streamed generation.

FastAPI and uvicorn (``pip install 'rnnkit[serve]'``) are imported only by ``app``; ``limits`` and
``scheduler`` need nothing beyond torch.
"""

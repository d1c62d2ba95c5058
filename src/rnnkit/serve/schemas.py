"""Request and response bodies of the API (pydantic), so the OpenAPI schema documents them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CompletionRequest(BaseModel):
    """OpenAI-compatible completion request, plus ``top_k`` and ``condition`` (conditional LMs)."""

    model: str
    prompt: str = ""
    max_tokens: int = Field(16, ge=0)
    temperature: float = Field(1.0, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    condition: str | None = None


class Choice(BaseModel):
    text: str
    index: int
    finish_reason: str


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: str = "text_completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ClassifyRequest(BaseModel):
    model: str
    texts: list[str]


class ClassifyResponse(BaseModel):
    model: str
    classes: list[str]
    labels: list[str]
    probabilities: list[list[float]]


class ForecastRequest(BaseModel):
    model: str
    horizon: int | None = Field(None, ge=1)
    history: list[float] | None = None
    quantiles: list[float] | None = None
    series_id: str | None = None  # a global model (trained with --id-column): which of its series


class TranslateRequest(BaseModel):
    model: str
    sources: list[str]
    beam: int = Field(1, ge=1)
    attention: bool = False  # also answer each output's attention map (when the model attends)


class AttentionMap(BaseModel):
    source_tokens: list[str]
    output_tokens: list[str]  # the output's tokens and </s>
    weights: list[list[float]]  # (len(output_tokens), len(source_tokens)), each row sums to 1


class TranslateResponse(BaseModel):
    model: str
    outputs: list[str]
    scores: list[float]
    attention: list[AttentionMap] | None = None  # one per source when asked for and the model attends


class SimilarRequest(BaseModel):
    model: str
    word: str
    topn: int = Field(10, ge=1)


class SimilarResponse(BaseModel):
    model: str
    similar: list[tuple[str, float]]

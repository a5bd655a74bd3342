"""Plain-language data requests: a request becomes a validated dataset spec (docs/ai.md)."""

"""Models: loading, the generation engines, CTranslate2 conversion, tiny models, the cache."""

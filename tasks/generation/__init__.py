"""Text generation: batching, summaries, translations, language routes, targets, glossary."""

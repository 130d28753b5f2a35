"""Input objects into articles: formats, decoding, ids, selection, the source language."""

"""Quality: the guards on every output, the warnings they raise, scores on the corpus."""

"""A run as plain steps: the pipeline over batches, shards of a night, the night's dates, policy."""

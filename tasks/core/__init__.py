"""What every layer shares: the configuration, the records, reuse keys, timing, log redaction."""

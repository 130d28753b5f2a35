"""The Prefect flows of briefs, the CLI and the deployments."""

# The loggers whose records a flow run sends to the Prefect API beside Prefect's own
# (PREFECT_LOGGING_EXTRA_LOGGERS): the CLI sets it for `briefs run`, the deployments for workers.
RUN_LOGGERS = "briefs,transformers,botocore"

# The night's two deployments, `<flow>/<deployment>` (made in flows/deployments.py): the
# alert watches both, and a late-arrivals run holds the nightly one's concurrency slot.
NIGHTLY_DEPLOYMENT = "briefs/nightly"
ARRIVALS_DEPLOYMENT = "briefs-arrivals/late-arrivals"

# The work pool of warm workers (`briefs warm-worker`) and the shard deployment on it: a
# night with `scale.shard_deployment` set to WARM_SHARD_DEPLOYMENT keeps its models loaded.
WARM_POOL = "briefs-warm"
WARM_SHARD_DEPLOYMENT = "briefs-shard/warm"

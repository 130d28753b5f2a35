"""The Prefect flows of briefs, the CLI and the deployments."""

# The loggers whose records a flow run sends to the Prefect API beside Prefect's own
# (PREFECT_LOGGING_EXTRA_LOGGERS): the CLI sets it for `briefs run`, the deployments for workers.
RUN_LOGGERS = "briefs,transformers,botocore"

"""The cold-start baseline: a plain Powertools handler module as its docs show it, with `Tracer()`.

Not part of the product; bench/cold_start.py imports it in a fresh process. `Tracer()` imports
the X-Ray SDK (and botocore) even with tracing disabled, which is what the connector avoids.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics(namespace="Bench")
tracer = Tracer()


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}

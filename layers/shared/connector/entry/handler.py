"""What every SQS-triggered function does: SQS event in, pipeline, partial batch response out.

Powertools' BatchProcessor hands records to a handler one at a time; coalescing and pushing one file
container per batch need the whole batch at once, so this builds the partial batch response itself
(the exact `{"batchItemFailures": [{"itemIdentifier": ...}]}` shape) from Powertools' SQS data class.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent

from ..domain.events import Kind
from ..domain.pipeline import BatchReport, Disposition, Message, Pipeline
from ..ports import LambdaContextLike

LambdaHandler = Callable[..., dict[str, Any]]
NAMESPACE = "CoveoConnector"


def _namespace() -> str:
    # The template sets POWERTOOLS_METRICS_NAMESPACE; the alarms and dashboard read the same one.
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE


def quiet_wire_loggers() -> None:
    """botocore and urllib3 log request and response bodies at DEBUG, GetSecretValue's SecretString
    (the API key) included: keep them at INFO whatever level Lambda's log controls set."""
    for name in ("botocore", "boto3", "urllib3", "httpcore", "httpx"):
        logging.getLogger(name).setLevel(logging.INFO)


def _observability(function_name: str) -> tuple[Logger, Metrics]:
    """A function's JSON logger and EMF metrics, with the wire loggers kept quiet."""
    quiet_wire_loggers()
    return Logger(service=function_name), Metrics(namespace=_namespace(), service=function_name)


def make_lambda_handler(kind: Kind, function_name: str) -> LambdaHandler:
    """The Lambda entry point of one function: JSON logs, EMF metrics, a pipeline built at cold start.

    Tests call it with a `pipeline=` of fakes; in Lambda the pipeline comes from the environment.
    """
    logger, metrics = _observability(function_name)
    built: list[Pipeline] = []

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(
        event: dict[str, Any], context: LambdaContextLike, pipeline: Pipeline | None = None
    ) -> dict[str, Any]:
        if pipeline is None:
            if not built:
                from .runtime import build_pipeline

                built.append(build_pipeline(kind, function_name))
            pipeline = built[0]
        return handle_sqs_batch(event, context, pipeline, logger, metrics)

    return handler


def handle_sqs_batch(
    event: dict[str, Any], context: LambdaContextLike, pipeline: Pipeline, logger: Logger, metrics: Metrics
) -> dict[str, list[dict[str, str]]]:
    records = list(SQSEvent(event).records)
    messages = [Message(record.message_id, record.body, _receive_count(record)) for record in records]
    report = pipeline.process(messages, lambda: context.get_remaining_time_in_millis() / 1000)
    _log(report, logger)
    _metrics(report, metrics)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.retry_ids()]}


def _receive_count(record: Any) -> int:
    try:
        return int(record.attributes.approximate_receive_count)
    except (AttributeError, KeyError, TypeError, ValueError):
        return 1


def _log(report: BatchReport, logger: Logger) -> None:
    for outcome in report.outcomes.values():
        fields = {
            "message_id": outcome.message_id,
            "event_id": outcome.event_id,
            "subject": outcome.subject,
            "disposition": outcome.disposition.value,
        }
        if outcome.disposition is Disposition.DEAD_LETTERED:
            logger.warning(f"dead-lettered: {outcome.reason}", extra=fields)
        elif outcome.disposition is Disposition.RETRY:
            logger.warning(f"will be retried: {outcome.reason}", extra=fields)
        elif outcome.disposition is Disposition.STALE:
            logger.info(f"skipped as stale: {outcome.reason}", extra=fields)
    logger.info(
        "batch done",
        extra={
            "received": len(report.outcomes),
            "pushed": report.count(Disposition.PUSHED),
            "stale": report.count(Disposition.STALE),
            "sync_events": report.count(Disposition.RECORDED),
            "dead_lettered": report.count(Disposition.DEAD_LETTERED),
            "retried": report.count(Disposition.RETRY),
            "coveo_requests": report.coveo_requests,
            "file_ids": report.file_ids,
        },
    )


def _metrics(report: BatchReport, metrics: Metrics) -> None:
    metrics.add_metric(name="Pushed", unit=MetricUnit.Count, value=report.count(Disposition.PUSHED))
    metrics.add_metric(name="StaleSkipped", unit=MetricUnit.Count, value=report.count(Disposition.STALE))
    metrics.add_metric(
        name="DeadLettered", unit=MetricUnit.Count, value=report.count(Disposition.DEAD_LETTERED)
    )
    metrics.add_metric(name="Retried", unit=MetricUnit.Count, value=report.count(Disposition.RETRY))
    metrics.add_metric(name="SyncEvents", unit=MetricUnit.Count, value=report.count(Disposition.RECORDED))
    metrics.add_metric(name="CoveoRequests", unit=MetricUnit.Count, value=report.coveo_requests)
    metrics.add_metric(name="BatchBytes", unit=MetricUnit.Bytes, value=report.batch_bytes)


def make_validator_handler(function_name: str) -> LambdaHandler:
    """The scheduled validator's entry point: one validation run, its counts as metrics."""
    from dataclasses import asdict, replace

    from ..domain.freshness import Freshness
    from ..domain.validator import Validator

    logger, metrics = _observability(function_name)
    built: list[Validator] = []

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(
        event: dict[str, Any], context: LambdaContextLike, validator: Validator | None = None
    ) -> dict[str, Any]:
        if validator is None:
            if not built:
                from .runtime import Runtime

                built.append(Runtime.from_env().validator(function_name))
            validator = built[0]
        report = validator.run(lambda: context.get_remaining_time_in_millis() / 1000)
        for failure in report.failures:
            logger.error(f"push failed: {failure['reason']}", extra=failure)
        for warning in report.warnings:
            (logger.error if warning.security else logger.warning)(warning.text)
        counts = {
            "Verified": report.verified,
            "Failed": report.failed,
            "Pending": report.pending,
            "Repushed": report.repushed,
            "WaitingForIdentity": report.waiting_for_identity,
            "PermissionWarnings": report.permission_warnings,
            "PermissionErrors": report.permission_errors,
            "UnexpectedPublicItems": report.unexpected_public,
            "IdentitiesInError": report.identities_in_error,
            "LogsApiCalls": report.logs_api_calls,
            "SyncsCompleted": report.syncs_completed,
            "SyncsFailed": report.syncs_failed,
            "SyncsRefused": report.syncs_refused,
            "SyncsRunning": report.syncs_running,
            "SyncDeleted": report.sync_deleted,
        }
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        metrics.add_metric(
            name="OldestPendingAgeSeconds", unit=MetricUnit.Seconds, value=report.oldest_pending_age_s
        )
        # p50/p95/max of each delay over the changes this run verified (none: no datapoint).
        freshness = Freshness.of(report.freshness)
        for name, seconds in freshness.metrics().items():
            metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=seconds)
        logger.info("validation done", extra={**counts, "freshness": freshness.report()})
        # The run's freshness summed up, not one sample per verified change.
        return {**asdict(replace(report, freshness=[])), "freshness": freshness.report()}

    return handler

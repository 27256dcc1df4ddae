"""A local stand-in for the AWS side of a deployment, for the local run, the tests and the benchmarks.

Not product code: nothing under layers/ imports it (the import contracts in pyproject.toml say so).

- `moto_server`: moto's threaded server (SQS, DynamoDB, S3, Secrets Manager, CloudWatch).
- `cloudformation`: template.yaml read and provisioned on it; the functions' environment and their
  SQS event sources as the template declares them.
- `poller` and `lambda_context`: Lambda's SQS event source mapping and the context it passes.
- `stack`: the connector's functions deployed on all of that, as `coveo-push local` runs them.
"""

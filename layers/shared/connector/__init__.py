"""The connector, in layers that import only downwards (the contracts in pyproject.toml check it):

- `entry`: the Lambda handlers, the runtime that builds collaborators from the environment, settings.
- `adapters`: AWS behind the ports (DynamoDB ledger, SQS dead letters, S3 content, Secrets Manager).
- `ports`: every interface the domain depends on, one module.
- `domain`: pure rules, no I/O: the event contract, policy, coalescing, the pipeline, the validator.
"""

"""push_identities: an SQS batch of identity, alias and identity-deletion changes → Coveo."""

from connector.domain.events import Kind
from connector.entry.handler import make_lambda_handler

handler = make_lambda_handler(kind=Kind.IDENTITY, function_name="push_identities")

"""push_items: an SQS batch of item changes → Coveo (one call, or one file-container batch)."""

from connector.domain.events import Kind
from connector.entry.handler import make_lambda_handler

handler = make_lambda_handler(kind=Kind.ITEM, function_name="push_items")

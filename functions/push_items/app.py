"""push_items: an SQS batch of item changes → Coveo (one call, or one file-container batch)."""

from connector.entry.handler import make_lambda_handler

handler = make_lambda_handler(kind="item", function_name="push_items")

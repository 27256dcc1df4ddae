"""AWS adapters behind the pipeline's small interfaces (ledger, dead letters, content, secrets)."""

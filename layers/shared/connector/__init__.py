"""The connector: the upstream event contract, coalescing, the stale guard and push planning (pure),
plus the AWS adapters behind small interfaces."""

"""The connector's rules, pure: no AWS, no environment, no I/O except through `connector.ports`."""

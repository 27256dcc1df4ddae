"""Where Lambda comes in: handlers, the runtime built once per container, the deployment's settings."""

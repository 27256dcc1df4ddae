"""The version this package reports in its User-Agent."""

__version__ = "0.1.0"
USER_AGENT = f"coveo-secured-push-connector/{__version__} (httpx)"

"""A faithful local emulator of Coveo's Push API, Source Logs API and permission APIs."""

"""validate_pushes: on a schedule, ask Coveo what became of accepted pushes; record VERIFIED or FAILED."""

from connector.entry.handler import make_validator_handler

handler = make_validator_handler(function_name="validate_pushes")

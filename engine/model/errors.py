"""The errors generation raises: `GenerationError` (a request the model cannot serve, from `engine.core.errors`)
and `Cancelled`."""

from engine.core.errors import GenerationError as GenerationError  # re-exported: the interface's error


class Cancelled(Exception):
    """Raised inside generation when every request of a batch was cancelled between two sampler steps."""

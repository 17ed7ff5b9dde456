"""The error a request the model cannot serve raises, in core so that request parts (`engine.core.constraints`)
can subclass it; `engine.model.errors` re-exports it beside the model's own `Cancelled`."""


class GenerationError(Exception):
    """A request the model cannot serve (bad length, bad settings); the message says what to change."""

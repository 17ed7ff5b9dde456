"""The errors generation raises, apart so that request parts (`engine.model.directing.constraints`) can
subclass them without importing the model interface that refers to them."""


class Cancelled(Exception):
    """Raised inside generation when every request of a batch was cancelled between two sampler steps."""


class GenerationError(Exception):
    """A request the model cannot serve (bad length, bad settings); the message says what to change."""

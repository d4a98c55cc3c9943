"""Typed exceptions raised inside services; the edges turn them into HTTP errors."""


class SwitchboardError(Exception):
    """Base class for every domain error."""


class NotFound(SwitchboardError):
    """The conversation, message, user or token does not exist."""


class Conflict(SwitchboardError):
    """The change contradicts the current state (e.g. reopening when another is open)."""


class InvalidInput(SwitchboardError):
    """A value from outside does not fit (bad cursor, bad filter)."""


class Forbidden(SwitchboardError):
    """The account may not do this to this object (another agent's note, say)."""


class StoreUnavailable(SwitchboardError):
    """The store could not be reached or did not answer."""

"""Errors a user can cause. Entry points print their message as one line and exit 2."""


class UserError(Exception):
    """A problem with the user's flags, data or workdir, explained in one sentence."""


class DivergenceError(Exception):
    """Training produced non-finite values and could not (or was told not to) recover."""

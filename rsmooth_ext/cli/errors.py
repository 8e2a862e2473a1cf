"""The CLI's user error."""


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""

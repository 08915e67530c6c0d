"""User-facing errors: one line, exit code 2, never a traceback."""


class UserError(Exception):
    """A mistake in the user's input (config, workload file, trace, CLI argument)."""

    exit_code = 2

    def __init__(self, where: str, message: str):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)

"""The one error `setup` reports: its message says what failed and what to do."""


class SetupError(Exception):
    pass

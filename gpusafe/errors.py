"""Errors that the CLI turns into a one-line message and exit code 2."""


class GpusafeError(Exception):
    """Base class: a problem the user can act on, reported without a traceback."""


class ModelFileError(GpusafeError):
    """The input is not a usable .tflite file (missing, unreadable, corrupt)."""


class ConfigError(GpusafeError):
    """A lint config file or a profile name is invalid."""

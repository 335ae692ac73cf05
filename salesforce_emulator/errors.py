"""The emulator's one exception type."""


class EmulatorError(Exception):
    """A control-endpoint request that cannot be honoured (unknown org, record...)."""

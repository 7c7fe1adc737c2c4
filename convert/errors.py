"""The errors a conversion raises, in a module of their own so that every converter part can raise them."""

__all__ = ["ConversionError", "FloatFallbackError", "ParityError"]


class ConversionError(RuntimeError):
    """The model cannot be converted, or the converted model would not be faithful."""


class FloatFallbackError(ConversionError):
    """Binary layers that LCE would run as float operators; `layers` holds (name, reason) pairs."""

    def __init__(self, message, layers):
        super().__init__(message)
        self.layers = layers


class ParityError(ConversionError):
    """The flatbuffer disagrees with the Keras model; `parity` holds the figures."""

    def __init__(self, message, parity):
        super().__init__(message)
        self.parity = parity

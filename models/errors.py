"""The one error the models raise about the data they are given (not about the code)."""


class InsufficientData(ValueError):
    """The data cannot train, validate or fit a model as asked: the message says what is missing."""

"""Errors of the model layer, each an :class:`~sf.engine.errors.SfError` with its exit code.

The commands let them through unchanged, so one error has one exit code whichever command
meets it (``sf train``, ``sf score``, ``sf evaluate``, ``sf alerts``, ``sf demo``). Each also
derives from the built-in exception the library raised before (``ValueError``,
``LookupError``), so library callers catching those keep working.
"""

from __future__ import annotations

from sf.engine.errors import BadInputError, UsageError


class ModelInputError(BadInputError, ValueError):
    """A table the model cannot use (exit code 3): Features, a truth file or Scores with a
    missing or mistyped column, too few labelled months, a calibration that failed."""


class ModelOptionError(UsageError, ValueError):
    """Invalid options of a model step (exit code 2): windows, model kinds, variables outside
    the catalogue, an unknown region or alert level."""


class ModelFileError(UsageError, ValueError):
    """A saved model folder that cannot be loaded (exit code 2): a file missing, a card that
    is not valid JSON or lacks a key, a model that does not match its card, untrusted types."""


class ModelMismatch(UsageError, ValueError):
    """The Features to score do not have the variables (or types) the model was trained on
    (exit code 2)."""


class NoFeatures(UsageError, LookupError):
    """The batch has no Features, or none in the months a step needs (exit code 2)."""


class TrainingRefused(UsageError, ValueError):
    """``sf train`` refuses to fit a model that could not be trusted (exit code 2): the Features
    hold less history than the forward-in-time protocol needs, most variables are never
    observed in the train window, or the validation window is too thin to calibrate on. The
    message says what is missing and how much is needed."""

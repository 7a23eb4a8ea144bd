"""User-facing failures: the ``seg`` CLI prints their message as one line on stderr and exits non-zero.

Anything else is a bug and keeps its traceback. Stage code raises a subclass (or one of the classes registered as
user errors in ``seglib.cli``) when the cause is the input, the config or the environment, not seglib itself.
"""

from __future__ import annotations


class SeglibError(RuntimeError):
    """A failure whose cause the user can fix (input, config, environment); its message says how."""


class MissingInputError(SeglibError):
    """A table seglib needs to read does not exist."""


class RunLockedError(SeglibError):
    """Another seglib run holds the warehouse's run lock."""


class ErasureError(SeglibError):
    """An erasure could not reach a table it must erase from: nothing is reported as done."""


class UntrainableError(SeglibError):
    """A model family cannot be trained on this data (too few labels or subjects, an input it needs is absent, a
    refused fit): the run skips the family, unless config marks it ``required``."""


class RequiredFamilyError(SeglibError):
    """A family marked ``required: true`` in config cannot be produced on this data: the run fails instead of
    publishing the other families without it."""


class ClvError(SeglibError):
    """The BG/NBD or CLV models cannot be fitted or published as configured (too much or too little data, a degenerate
    fit). Raised by the BG/NBD core (``seglib.features.bgnbd``) and the CLV stage (``seglib.modeling.clv``)."""

"""Imports every built-in component so that each registers its name (see ``component.build``)."""

from townsquare.feed import features, filters, scorers, selectors, sources  # noqa: F401

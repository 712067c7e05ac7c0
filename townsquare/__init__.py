"""townsquare: a self-hosted engine that brings language models to social platforms."""

__version__ = "0.1.0"

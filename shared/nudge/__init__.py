"""Nudge: a self-hosted, serverless engagement engine for mobile apps."""

__version__ = "0.1.0"

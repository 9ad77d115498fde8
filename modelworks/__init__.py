"""Modelworks: a self-hosted AI development platform that speaks the ModelArts REST API."""

__version__ = "0.1.0"

"""The typed async client of the manager's API, shared by the CLI, agents and scheduler."""

from tashi.client.client import TashiClient

__all__ = ["TashiClient"]

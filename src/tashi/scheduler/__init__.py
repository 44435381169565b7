"""Placement: a pure core (filters, weighers) and the agent loop that binds through the API."""

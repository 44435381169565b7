"""The manager's HTTP surface: app factory, wire schemas, auth and routes."""

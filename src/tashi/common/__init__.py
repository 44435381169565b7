"""Small shared pieces: clock, logging, tokens. Nothing domain-specific."""

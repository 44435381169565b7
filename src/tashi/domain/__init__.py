"""Pure types and rules of Tashi. Imports nothing else of ours and does no I/O."""

"""Tashi: a cluster manager that hands out virtual and physical machines."""

__version__ = "0.1.0"

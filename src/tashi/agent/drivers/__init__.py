"""Hypervisor drivers. One explicit registry: :data:`tashi.agent.drivers.registry.DRIVERS`."""

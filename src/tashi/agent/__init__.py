"""The node agent: registers its host, heartbeats, converges VMs toward the manager's specs."""

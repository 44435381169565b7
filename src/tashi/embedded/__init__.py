"""The all-in-one cluster behind ``tashi up``: manager, agent and scheduler in one process."""

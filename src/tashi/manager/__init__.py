"""The cluster manager: lifecycle rules applied to the store, host liveness, watches."""

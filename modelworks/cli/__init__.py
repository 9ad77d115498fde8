"""The ``modelworks`` command: serve, worker, admin."""

"""Boot files of the built-in algorithms: each is published to storage and run as a training job's
boot file; the work is done by the algorithm's module in ``modelworks.training.builtin``."""

"""Training: algorithms, training jobs that run as local process groups, engines, flavors, logs, metrics.

``algorithms`` and ``training_jobs`` are the services behind reference chapter 5; ``task`` is the
``training-job`` background task that prepares (``workspace``), starts and watches (``process``) a
job; ``engines`` and ``flavors`` describe what this installation offers; ``logs``, ``metrics`` and
``search`` serve the read-side operations.
"""

"""Training: algorithms, training jobs run by local or Ray runners, logs, metrics, built-ins.

``algorithms`` and ``training_jobs`` are the services behind reference chapter 5; ``task`` is the
``training-job`` background task, which hands each attempt to the runner of the job's compute backend
(``runners.local``: a process group on the worker's host; ``runners.ray``: Ray Jobs) in the job's
directory (``job_workspace``); ``logs``, ``metrics`` and ``search`` serve the read-side operations;
``model_sources`` lets ``modelworks.models`` create a model from a job's output. Engines, flavors and
process launching are ``modelworks.compute``'s.
"""

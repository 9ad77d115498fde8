"""Intelligent tasks of datasets: auto labeling (active learning with hard examples) and auto grouping.

service   request checks, queuing, listing, RunningTask views, stop (reference 16.1.64–16.1.67)
handler   the ``intelligent-task`` TaskHandler that runs them with the ML layer (``modelworks.ml``)
compute   feature extraction spread over the executor's processes (or Ray workers)
"""

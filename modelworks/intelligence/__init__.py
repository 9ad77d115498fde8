"""Intelligent tasks of datasets: auto labeling (active learning with hard examples), pre-labeling
with a published model, auto grouping and one-click deployment.

service    request checks common to every kind, queuing, listing, RunningTask views, stop
           (reference 16.1.64–16.1.67)
handler    the ``intelligent-task`` TaskHandler; runs a task with the kind its ``task_type`` names
base       ``IntelligentTaskKind``, the base of every kind, with its documented hooks
kinds/     one registered class per kind (``kinds.task_kinds``): auto_label, pre_label,
           auto_grouping, auto_deploy
labels     writing predictions: to-be-confirmed labels, hard examples, manifests, sample attributes
compute    feature extraction spread over the executor's processes (or Ray workers)
"""

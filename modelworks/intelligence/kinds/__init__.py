"""The intelligent task kinds, by the API's ``task_type``: the one registry that the request side
(``service.create_task``) and the worker side (``handler.IntelligentTask``) look a kind up in.

auto_label      active learning: an estimator on the human labels, predictions and hard examples
pre_label       labels from a published model deployed as a temporary service
auto_grouping   clusters of images on their embeddings (and blur, brightness, colourfulness)
auto_deploy     version, training job, model and real-time service in one task
"""

from __future__ import annotations

from modelworks.intelligence.base import (
    AUTO_DEPLOY,
    AUTO_GROUPING,
    AUTO_LABEL,
    PRE_LABEL,
    IntelligentTaskKind,
)
from modelworks.intelligence.kinds.auto_deploy import AutoDeployTask
from modelworks.intelligence.kinds.auto_grouping import AutoGroupingTask
from modelworks.intelligence.kinds.auto_label import AutoLabelTask
from modelworks.intelligence.kinds.pre_label import PreLabelTask
from modelworks.registry import Registry

__all__ = ["task_kinds"]

task_kinds: Registry[IntelligentTaskKind] = Registry("intelligent task kind")

task_kinds.register(AUTO_LABEL, AutoLabelTask())
task_kinds.register(PRE_LABEL, PreLabelTask())
task_kinds.register(AUTO_GROUPING, AutoGroupingTask())
task_kinds.register(AUTO_DEPLOY, AutoDeployTask())

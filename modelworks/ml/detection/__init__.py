"""Object detection for auto labeling: a light head over the frozen EfficientNet-Lite0 pyramid.

boxes       the Box the task layer reads and writes; IoU, NMS and matching on xyxy arrays
backbone    letterboxing and the frozen backbone's stride-16/32 maps (ONNX Runtime, export cached)
centernet   the CenterNet-style head, its TTFNet targets and losses, and peak decoding
detector    CenterNetDetector: the head as an estimator (fit on maps and boxes, predict detections)
rescoring   a crop classifier's second opinion on each box's class ("accurate")
hard        hard examples of detection (reasons 0, 1, 5-22)
pipeline    auto_detect end to end, for the task layer to run on its executor
trained     train_detector: a detector trained once, saved, loaded and run (model packages)
evaluation  mean_average_precision of detected boxes (COCO's mAP at one IoU)
"""

from modelworks.ml.detection.boxes import Box
from modelworks.ml.detection.evaluation import mean_average_precision
from modelworks.ml.detection.pipeline import ALGORITHMS, DetectionResult, auto_detect
from modelworks.ml.detection.trained import TrainedDetector, train_detector

__all__ = [
    "ALGORITHMS",
    "Box",
    "DetectionResult",
    "TrainedDetector",
    "auto_detect",
    "mean_average_precision",
    "train_detector",
]

"""The training contract (reference chapter 5): ``algorithms``, ``jobs`` and ``resources``, one
module per router of ``api/training``; ``common`` holds what algorithms and jobs share."""

"""Inference code the built-ins copy into their packages as ``customize_service.py``.

Plain ModelArts inference code: it imports the ``model_service`` base classes of the inference runtime
(``modelworks.serving.runtime`` provides them) and reads its files from its own directory. It is never
imported from here.
"""

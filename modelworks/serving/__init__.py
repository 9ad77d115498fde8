"""Serving: what runs a ModelArts model package.

runtime/   loads a package's ``model/`` directory (``config.json``, ``customize_service.py``) and
           provides the ``model_service`` base classes that inference code imports
server     the model server: one process serving one package over HTTP on a loopback port (the
           instances of ``modelworks.services``, which also holds the gateway ``/v1/infers``)
"""

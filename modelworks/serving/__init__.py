"""Serving (reference chapter 8): real-time and batch services, the gateway, and the model server.

Control plane (rows and checks):
tables       services, their instances, events, update logs and call statistics
configs      checking request fields; normalized ``config`` entries with model snapshots
specs        deployment specifications (8.5): flavors of this machine and custom sizes
lifecycle    deploy, update, patch, scale, start, stop, delete, tags (rows only)
queries      list, monitor, tags of a project; views: the reference's response shapes
events       event logs (8.10) and update logs (8.11)
Running services:
supervisor   one per server: claims services (leases) and runs a keeper thread for each
keepers/     one service's instances: start, watch, restart, roll updates, stop, re-adopt
  base       the keeper's loop, lease, rows and status, and ``KeeperBackend`` (registry: ``backends``)
  local      instances as model-server processes of this host; batch services' inference
  ray        a real-time service as Ray Serve applications (one per model entry and revision)
  batch      batch services: input files or CSV rows in, results and a manifest out
instances    one model-server process (``modelworks.serving.server``) as a process group
ray_serve    with ``MODELWORKS_RAY_ADDRESS``: joining the cluster, starting Serve, its proxy's address
ray_replica  the Serve deployment class: a replica loads the package with our runtime and answers
gateway      ``/v1/infers/{service_id}``: weighted model choice, instance balancing, counts
_routes      what the gateway routes by: models, weights, declared APIs, instance addresses
_http        the gateway's small HTTP/1.1 client (kept-alive connections per address)
plane        what ``create_app`` starts: the supervisor (with its keeper backend) and the gateway
The model server (imported by user code's interpreter: this package's import stays light):
runtime/     loads a package's ``model/`` directory (``config.json``, ``customize_service.py``) and
             provides the ``model_service`` base classes that inference code imports
server       one process serving one package over HTTP on a loopback port
"""

"""Moving data in and out of datasets: import, export, versions and sync (each a service + a task).

imports / import_task / manifest_import   import requests (4.4) and the task that indexes files or a manifest
exports / export_task                     export requests (4.3) and the task that writes a format
versions / publishing                     dataset versions (4.5): the service and the "publish" task's work
sync                                      dataset sync (4.2): pick up files added to the input path
records / record_samples                  samples read as format records, and records made sample rows
steps / staging                           what records pass through on the way out, and the final move
"""

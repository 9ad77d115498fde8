"""Moving data in and out of datasets: import, export, versions and sync (each a service + a task).

imports / import_task / manifest_import   import requests (4.4) and the task that indexes files or a manifest
exports / export_task                     export requests (4.3) and the task that writes a format
versions                                  dataset versions (4.5): publish a manifest, materialise it
sync                                      dataset sync (4.2): pick up files added to the input path
records                                   samples read as format records, and a publish-by-rename helper
"""

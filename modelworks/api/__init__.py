"""HTTP layer: routers per area, request authentication, error envelope."""

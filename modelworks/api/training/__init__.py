"""Training routers (reference chapter 5): algorithms, training jobs, flavors and engines."""

from fastapi import APIRouter

from modelworks.api.training import algorithms, jobs, resources

routers: list[APIRouter] = [algorithms.router, jobs.router, resources.router]

__all__ = ["routers"]

"""IAM-compatible accounts: domains, users, projects, access keys, tokens, request signatures."""

from modelworks.iam.service import Principal

__all__ = ["Principal"]

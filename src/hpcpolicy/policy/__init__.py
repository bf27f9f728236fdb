"""The policy language: schema, loading with line-accurate errors, linting, and policy test cases."""

from hpcpolicy.policy.errors import PolicyError, PolicyIssue
from hpcpolicy.policy.load import LoadedPolicy, example_policy_path, load_policy, parse_policy, policy_version
from hpcpolicy.policy.schema import API_VERSION, Policy

__all__ = [
    "API_VERSION",
    "LoadedPolicy",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "example_policy_path",
    "load_policy",
    "parse_policy",
    "policy_version",
]

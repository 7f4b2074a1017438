"""The flag/report decision: the policy, its sensitivity presets and the targeting gate
(is a message aimed at someone?). Pure and synchronous; imports nothing of the runtime."""

from bot.policy.policy import Decision, Policy, PolicyConfig, with_sensitivity
from bot.policy.sensitivity import SENSITIVITIES, Sensitivity
from bot.policy.version import POLICY_VERSION

__all__ = [
    "POLICY_VERSION",
    "SENSITIVITIES",
    "Decision",
    "Policy",
    "PolicyConfig",
    "Sensitivity",
    "with_sensitivity",
]

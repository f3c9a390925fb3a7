"""Chaos Toolkit extension: actions and probes that experiments name as their provider.

    {"type": "python", "module": "harness.chaos.actions", "func": "kill_service",
     "arguments": {"name": "runner"}}

Plain synchronous functions (Chaos Toolkit calls them from its threads); each raises
ActivityFailed with a reason. They find the stack the same way every suite does: the state file
(or HARNESS_* variables).
"""

"""Shared fixtures. Hypothesis runs with a fixed derandomized profile so the suite is repeatable."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("symest", derandomize=True, deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "symest"))

"""The agent runtime every agent process uses: health/readiness, metrics, heartbeats, gates, SIGTERM.

The same runtime runs on Kubernetes (Leases + watches on the Agent/Strategy/RiskPolicy objects)
and under `quantops up` (heartbeats and gates through the local supervisor's HTTP API); the
difference is one `Control` implementation, chosen from the environment.
"""

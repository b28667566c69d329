"""Trading intelligence between strategies and the RiskGateway (roadmap 38–50)."""

__all__: list[str] = []

"""quantops_local: `quantops up` and the `quantops` CLI — the platform on one machine, no Kubernetes."""

__all__: list[str] = []

"""Pure reconcile decisions: observed state in, desired state out; no kopf, no I/O."""

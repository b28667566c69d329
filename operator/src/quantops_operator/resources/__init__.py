"""Builders of the child objects an Agent owns (pure: dicts in, dicts out)."""

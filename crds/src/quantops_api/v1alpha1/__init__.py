"""Version v1alpha1 of the quantops.dev API: one Kind per module."""

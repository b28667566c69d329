"""Deliberately broken strategies: each proves the loader contains one kind of failure."""

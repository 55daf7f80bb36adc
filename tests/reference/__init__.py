"""Slow, obvious reference implementations that the engine's tests compare against."""

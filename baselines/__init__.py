"""Reference policies. Each is registered by name in :mod:`baselines.registry`."""

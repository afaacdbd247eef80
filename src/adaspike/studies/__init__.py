"""Experiment runners behind ``adaspike study ...`` and ``adaspike demo``."""

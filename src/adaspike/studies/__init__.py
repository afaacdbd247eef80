"""Experiment runners behind ``adaspike study ...`` and ``adaspike demo``."""

# The runners are imported by module (``adaspike.studies.retime`` ...): each pulls in a whole capability, and
# the CLI loads only the one a command needs.
__all__: list[str] = []

"""landgui: land-cover classification of satellite imagery, desktop app and CLI."""

__version__ = "0.1.0"

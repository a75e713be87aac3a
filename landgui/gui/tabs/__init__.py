"""tabs: see docs/architecture.md."""

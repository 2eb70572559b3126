"""modules layer (see DESIGN.md)."""

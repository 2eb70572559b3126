"""stream layer (see DESIGN.md)."""

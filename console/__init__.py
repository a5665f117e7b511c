"""The RedRunner operator console (Textual)."""

"""fexp: functional experiments."""

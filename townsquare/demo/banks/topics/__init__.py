"""One phrase bank per demo topic (data only)."""

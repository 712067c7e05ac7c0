"""Hand-written phrase banks of the demo community (data only)."""

"""Domain: the plan model and the pure rules and maths over it (no I/O, no UI)."""

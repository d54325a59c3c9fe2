"""The use cases, in the order a registration flows: a request from what was typed, the gate,
the token claim, upload or adoption, the commit, what follows it; verify; and `wiring.py`, the
one place that builds the adapters of the selected mode."""

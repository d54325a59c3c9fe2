"""Settings: what was typed, set in the environment or written in a file, read once into one
model; the mode decision, URL rules, character rules and the one redaction layer."""

"""The ports: what the use cases need from a token store, a model registry and the platform,
as small protocols the adapters implement."""

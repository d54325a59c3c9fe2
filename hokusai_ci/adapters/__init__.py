"""The adapters behind the ports: SQLite/PostgreSQL, the Hokusai API, MLflow (REST and its own
client), S3 and other artifact stores, the webhook, signing. Built by `core/wiring.py` only for
the selected mode; heavy libraries are imported when an adapter is built."""

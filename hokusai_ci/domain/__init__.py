"""What the use cases reason about, free of I/O adapters: exit codes and categories, the metric
table and the measured gate, the registration record, results, event payloads, the signed
statement, the model's content identity."""

"""The faces: how a person or a CI job calls hokusai-ci (the Fire CLI, the GitHub Action) and how
a result is shown (text, JSON, dotenv, step outputs, job summary). Options and commands are
declared once here; nothing below imports this layer."""

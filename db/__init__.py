"""Storage: models, engine and session set-up, queries, migrations."""

"""The domain: stages and their order. Nothing here imports telegram, flask or celery."""

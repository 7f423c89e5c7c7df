"""Prefect flows and deployments of qdistill (the orchestration layer) and its CLI."""

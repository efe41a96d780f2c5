"""Use cases of integration: connections, grants, syncs, launches, webhooks, billing."""

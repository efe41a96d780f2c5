"""Integration service. Connectors to Google Ads, Meta, LinkedIn, Stripe and Mautic: credentials, OAuth refresh, syncs, webhooks."""

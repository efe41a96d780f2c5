"""Pure rules of integration: the provider catalogue, sync windows, Stripe event mapping, secrets."""

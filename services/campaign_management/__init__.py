"""Campaign Management service. Campaigns and their lifecycle, budgets, channels, funnels synced to Mautic, executions, recommendations."""

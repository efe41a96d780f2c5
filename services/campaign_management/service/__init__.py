"""The use cases of campaign_management, one module per area: campaigns, their lifecycle and
scheduler, what integration and analytics report back, recommendations, funnels. Each owns its
transactions and writes events to the outbox; none knows HTTP."""

"""The use cases of user_management, one module per group: sessions and tokens, self-service,
user administration, the tenant, service accounts. Each owns its transactions, applies the domain
rules and writes events to the outbox; none knows HTTP."""

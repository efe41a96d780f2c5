"""API Gateway service. The only public entry: routing, JWT check, rate limits, circuit breakers, merged docs."""

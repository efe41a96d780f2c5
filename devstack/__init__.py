"""The local stack: embedded PostgreSQL and Redis, the seven services, and their wiring.

Used by `./start-dev.sh` and by the test suite, so tests start the fleet the way developers do.
"""

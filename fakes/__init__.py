"""Fake external providers: real servers on 127.0.0.1 speaking each provider's documented wire
format (paths, shapes, paging, errors, rate limits, signatures), so the tests and the dev stack
run every flow offline. Our clients reach them through their configurable base URLs; the real
providers are one setting away. Not part of any service: nothing under services/ imports this.
"""

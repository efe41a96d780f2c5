"""The agents' real work as plain modules: SSRF-safe fetching and crawling, SEO, presence and keyword checks."""

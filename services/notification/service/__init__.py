"""Use cases of notification: sending, delivering, templates, preferences, the inbox, links."""

"""Pure rules of notification: templates, preferences and quiet hours, retries, signed links."""

"""Notification service. Email, SMS, push and in-app notifications: templates, preferences, retries, delivery tracking."""

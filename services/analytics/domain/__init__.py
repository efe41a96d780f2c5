"""The rules of analytics, free of frameworks: money, normalisation, KPIs, calendars, alerts."""

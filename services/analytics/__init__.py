"""Analytics service. Metric ingestion, rollups, KPIs, dashboards, background reports and anomalies."""

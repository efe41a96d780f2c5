"""AI Agents service. CrewAI crews for web presence audits, SEO analysis, content generation and campaign optimization."""

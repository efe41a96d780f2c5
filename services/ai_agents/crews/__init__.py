"""CrewAI crews that reason over the agents' real tools when an LLM is configured (see `runner.run_crew`)."""

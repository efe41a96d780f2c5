"""Use cases of ai_agents: tasks and their worker, the toolbox, content memory."""

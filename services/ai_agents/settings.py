"""Settings of the ai_agents service (see `.env.example`).

With `LLM_BASE_URL` and `LLM_MODEL` set (any OpenAI-compatible server: OpenAI, Ollama, vLLM,
llama.cpp), CrewAI crews reason over the tools; without, the same tools run in a fixed pipeline
and every result says `engine: tools-only`."""

from pydantic import AnyUrl, Field, SecretStr

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="ai_agents"):
    llm_base_url: AnyUrl | None = Field(None, validation_alias="LLM_BASE_URL")
    llm_model: str | None = Field(None, validation_alias="LLM_MODEL")
    llm_api_key: SecretStr | None = Field(None, validation_alias="LLM_API_KEY")
    embeddings_base_url: AnyUrl | None = Field(
        None,
        validation_alias="EMBEDDINGS_BASE_URL",
        description="OpenAI-compatible /embeddings; unset: the local lexical hashing embedder.",
    )
    embeddings_model: str | None = Field(None, validation_alias="EMBEDDINGS_MODEL")
    fetch_allow: list[str] = Field(
        default_factory=list,
        validation_alias="FETCH_ALLOW",
        description="CIDR networks audits may fetch although private (JSON list; tests only).",
    )
    crawl_max_pages: int = Field(20, ge=1, le=500, validation_alias="CRAWL_MAX_PAGES")
    task_poll_seconds: float = Field(1.0, gt=0, le=60, validation_alias="TASK_POLL_SECONDS")
    task_lease_seconds: float = Field(120.0, gt=0, le=3600, validation_alias="TASK_LEASE_SECONDS")
    task_time_limit_seconds: float = Field(300.0, gt=0, le=7200, validation_alias="TASK_TIME_LIMIT_SECONDS")
    task_concurrency: int = Field(2, ge=1, le=32, validation_alias="TASK_CONCURRENCY")

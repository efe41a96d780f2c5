"""Settings of the api_gateway service (see `.env.example`)."""

from shared.config import ServiceSettings


class Settings(ServiceSettings):
    service_name = "api_gateway"

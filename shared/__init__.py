"""Code every BizOSaaS service uses. Never imports a service."""

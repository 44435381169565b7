"""The manager's settings: flags, ``TASHI_*`` environment variables, defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ManagerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASHI_", extra="ignore")

    db_url: str = Field(default="sqlite:///./tashi.db", description="SQLAlchemy URL")
    listen: str = "127.0.0.1"
    port: int = 8470
    image_dir: Path = Path("./images")
    heartbeat_timeout_s: float = 30.0
    liveness_interval_s: float = 5.0
    join_token: SecretStr | None = Field(
        default=None, description="enables auto registration of agents holding it")
    tls_cert: Path | None = Field(default=None, description="serve HTTPS with this cert")
    tls_key: Path | None = None
    log_level: str = "INFO"

"""The manager's settings: flags, ``TASHI_*`` environment variables, defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from tashi.manager.leadership import default_replica_id


class ManagerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASHI_", extra="ignore")

    db_url: str = Field(default="sqlite:///./tashi.db", description="SQLAlchemy URL")
    listen: str = "127.0.0.1"
    port: int = 8470
    image_dir: Path = Path("./images")
    heartbeat_timeout_s: float = 30.0
    liveness_interval_s: float = 5.0
    ha_lease_s: float | None = Field(default=None, gt=0, description="seconds after a "
                                     "host's last heartbeat until its HA instances are "
                                     "restarted elsewhere (default: the heartbeat timeout)")
    leader_lease_s: float = Field(default=10.0, ge=0.3, le=3600, description="the lease "
                                  "of the replica that does the once-only work (liveness, "
                                  "retries, HA restarts, evacuations, usage closing); "
                                  "another replica takes over within about 1.1 times it")
    replica_id: str = Field(default_factory=default_replica_id, min_length=1, max_length=190,
                            description="this replica's name in the lease (default "
                                        "HOST:PID)")
    migrations_per_host: int = Field(default=2, ge=1, description="live migrations a host "
                                     "may have under way at once, in and out together")
    usage_interval_s: int = Field(default=3600, description="length of a usage record's "
                                  "interval; must divide a day; fixed once records exist")
    usage_grace_s: float = Field(default=150.0, ge=0, description="an interval closes this "
                                 "long after it ends, so its last usage reports arrive")
    usage_close_every_s: float = Field(default=15.0, gt=0)
    join_token: SecretStr | None = Field(
        default=None, description="enables auto registration of agents holding it")
    tls_cert: Path | None = Field(default=None, description="serve HTTPS with this cert")
    tls_key: Path | None = None
    metrics_token: SecretStr | None = Field(
        default=None, description="the scrape token: reads /metrics and nothing else")
    log_level: str = "INFO"

    # --- user sources besides Tashi's own table (see tashi.identity.sources) ---
    user_sources: str = Field(default="", description="comma-separated, in the order "
                              "asked: system, ldap; empty: Tashi's own users only")
    system_min_uid: int = Field(default=1000, ge=0)
    system_group: str | None = Field(default=None, description="only its members may use Tashi")
    system_admin_group: str | None = Field(default=None, description="its members are admins")
    ldap_url: str | None = Field(default=None, description="ldap://host[:port] or ldaps://…")
    ldap_user_base_dn: str | None = None
    ldap_user_attribute: str = "uid"
    ldap_uid_attribute: str = "uidNumber"
    ldap_bind_dn: str | None = Field(default=None, description="service account; none: anonymous")
    ldap_bind_password: SecretStr | None = None
    ldap_bind_password_file: Path | None = Field(
        default=None, description="a file holding the service account's password")
    ldap_group_base_dn: str | None = None
    ldap_group_member_attribute: str = Field(default="member", description="or memberUid")
    ldap_admin_group: str | None = Field(default=None, description="cn of the admins' group")
    ldap_start_tls: bool = False
    ldap_ca_file: str | None = None

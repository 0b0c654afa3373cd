"""The history's credentials, by kind of LDP service: the LDP username and password (legacy
services), or an IAM credential (IAM-enabled services, whose OpenSearch API takes IAM Bearer
tokens only): a token, or a service account whose token the plugin fetches and refreshes
(OAuth2 client credentials).

Each kind gives the `init_config.history` keys the plugin reads (secrets as ${VAR}), the
Secret entry holding its secret, and a requests session that authenticates as it does
(`setup --check`)."""
from __future__ import annotations

import getpass
import os
from dataclasses import dataclass

from .. import config
from ..redaction import register_secret
from .api_calls import HISTORY_READ_ACTION
from .choose import interactive
from .errors import SetupError
from .service import Service

# The variables the configurations read the secrets from (Falco expands ${VAR}).
PASSWORD_ENV, TOKEN_ENV, CLIENT_SECRET_ENV = "LDP_PASSWORD", "LDP_IAM_TOKEN", "LDP_IAM_CLIENT_SECRET"
DEFAULT_PASSWORD_ENV = PASSWORD_ENV            # where setup reads the LDP password (--password-env)
DEFAULT_CLIENT_SECRET_ENV = CLIENT_SECRET_ENV  # where it reads a service account's secret


@dataclass(frozen=True)
class SecretItem:
    key: str            # in the Kubernetes Secret
    env: str            # the variable Falco reads it from: ${env} in the configurations
    value: str | None   # None: unknown, the Secret lacks it


@dataclass(frozen=True, repr=False)
class LdpPassword:
    user: str
    password: str | None

    def history(self, url: str) -> dict:
        return {"url": url, "user": self.user, "password": f"${{{PASSWORD_ENV}}}"}

    @property
    def secret(self) -> SecretItem:
        return SecretItem("password", PASSWORD_ENV, self.password)

    @property
    def who(self) -> str:
        return f"as {self.user}"

    def session(self, timeout: float):
        import requests
        session = requests.Session()
        session.auth = (self.user, self.password or "")
        return session


@dataclass(frozen=True, repr=False)
class IamToken:
    token: str

    def history(self, url: str) -> dict:
        return {"url": url, "token": f"${{{TOKEN_ENV}}}"}

    @property
    def secret(self) -> SecretItem:
        return SecretItem("iamToken", TOKEN_ENV, self.token)

    @property
    def who(self) -> str:
        return "with an IAM token"

    def session(self, timeout: float):
        import requests
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        return session


@dataclass(frozen=True, repr=False)
class ServiceAccount:
    client_id: str
    client_secret: str
    token_url: str

    def history(self, url: str) -> dict:
        return {"url": url, "clientId": self.client_id, "clientSecret": f"${{{CLIENT_SECRET_ENV}}}",
                "tokenUrl": self.token_url}

    @property
    def secret(self) -> SecretItem:
        return SecretItem("iamClientSecret", CLIENT_SECRET_ENV, self.client_secret)

    @property
    def who(self) -> str:
        return f"as service account {self.client_id}"

    def session(self, timeout: float):
        """A session holding a token fetched with the client credentials (as python-ovh
        fetches its own, with requests-oauthlib); RuntimeError when refused."""
        from oauthlib.oauth2 import BackendApplicationClient, OAuth2Error
        from requests import RequestException
        from requests_oauthlib import OAuth2Session
        session = OAuth2Session(client=BackendApplicationClient(client_id=self.client_id, scope=["all"]))
        try:
            token = session.fetch_token(self.token_url, client_id=self.client_id, client_secret=self.client_secret,
                                        timeout=timeout)
        except (OAuth2Error, RequestException, ValueError) as exc:
            raise RuntimeError(f"no token from {self.token_url} for service account {self.client_id} "
                               f"({type(exc).__name__}: {exc})") from None
        register_secret(str(token.get("access_token", "")))
        return session


Credential = LdpPassword | IamToken | ServiceAccount


def token_url() -> str | None:
    """The OAuth2 token endpoint of the OVHcloud API endpoint in use (the plugin's table, the
    one `tokenUrl` documents)."""
    import ovh
    return config.TOKEN_URLS.get(ovh.config.config.get("default", "endpoint") or "")


def resolve(service: Service, iam_token_env: str | None, service_account: str | None,
            service_account_secret_env: str | None, password_env: str, ask: bool) -> Credential:
    """The credential of `service`'s history from the options; SetupError saying what to
    pass when it does not fit the service. `ask`: ask for a missing password on a terminal."""
    if not service.iam:
        if iam_token_env or service_account:
            raise SetupError(f"LDP service {service.name} does not use IAM (isIamEnabled is false): its OpenSearch API "
                             f"takes the LDP username {service.username} and its password (${password_env}); drop "
                             "--iam-token-env and --service-account")
        return LdpPassword(service.username, _password(password_env, service.username, ask))
    if iam_token_env and service_account:
        raise SetupError("give --iam-token-env or --service-account, not both")
    if iam_token_env:
        return IamToken(_from_env(iam_token_env, "--iam-token-env", "the IAM token"))
    if service_account:
        variable = service_account_secret_env or DEFAULT_CLIENT_SECRET_ENV
        url = token_url()
        if url is None:
            raise SetupError("service accounts get their tokens from the OAuth2 endpoint of ovh-eu, ovh-ca or ovh-us; "
                             "this OVHcloud API endpoint has none: use --iam-token-env")
        return ServiceAccount(service_account, _from_env(variable, "--service-account-secret-env",
                                                         f"the secret of service account {service_account}"), url)
    raise SetupError(
        f"LDP service {service.name} has IAM enabled: its OpenSearch API takes an IAM token, not the LDP password. "
        "Pass --iam-token-env VAR (VAR holding a token, e.g. a personal access token from POST "
        "/me/identity/user/{user}/token) or --service-account CLIENT_ID --service-account-secret-env VAR (the "
        f"plugin fetches and refreshes its token); the identity needs {HISTORY_READ_ACTION} on the alias "
        "(an IAM policy on the alias only)")


def _from_env(variable: str, option: str, what: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise SetupError(f"${variable} is empty: it should hold {what} ({option} {variable})")
    register_secret(value)
    return value


def _password(variable: str, username: str, ask: bool) -> str | None:
    password = os.environ.get(variable)
    if not password and ask and interactive():
        password = getpass.getpass(f"LDP password of {username} (for the history; not changed): ")
    if password:
        register_secret(password)
    return password or None

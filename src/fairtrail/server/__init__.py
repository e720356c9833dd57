"""The trail over HTTP: REST API (`/api/v1`, OpenAPI at `/openapi.json`), dashboard and
an optional C2SP witness endpoint. `fairtrail serve` runs it with uvicorn.

    from fairtrail.server import ServerConfig, create_app
    app = create_app(ServerConfig(trail=Path("audit-trail")))
"""

from fairtrail.server.app import ServerConfig, create_app
from fairtrail.server.tokens import ApiToken, TokenStore

__all__ = ["ApiToken", "ServerConfig", "TokenStore", "create_app"]

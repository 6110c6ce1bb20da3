"""flask-jwt-extended with the Redis blocklist of its docs: ``@jwt_required()``
on a protected view (HS256, the default) and a ``token_in_blocklist_loader``
that asks Redis for the token's jti on every request. Served by gunicorn,
one sync worker. ``python flask_app.py mint`` prints an access token."""

import os
import sys
from datetime import timedelta

import redis
from flask import Flask, jsonify
from flask_jwt_extended import JWTManager, create_access_token, get_jwt_identity, jwt_required

PREFIX = os.environ["PEER_REDIS_PREFIX"]

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ["PEER_SECRET"]
app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(hours=1)
jwt = JWTManager(app)
blocklist = redis.Redis.from_url(os.environ["PEER_REDIS_URL"], decode_responses=True)


@jwt.token_in_blocklist_loader
def check_if_token_is_revoked(jwt_header: dict, jwt_payload: dict) -> bool:
    return blocklist.get(f"{PREFIX}:blocklist:{jwt_payload['jti']}") is not None


@app.get("/me")
@jwt_required()
def me():  # type: ignore[no-untyped-def]
    return jsonify(sub=get_jwt_identity())


if __name__ == "__main__" and sys.argv[1:] == ["mint"]:
    with app.app_context():
        print(create_access_token(identity="bench"))

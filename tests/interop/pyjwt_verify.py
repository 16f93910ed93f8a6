"""Verify an edgeauth token with PyJWT (and `cryptography`), using only our published JWKS.

Usage: pyjwt_verify.py JWKS_FILE ISSUER AUDIENCE < token
Prints the claims as JSON and exits 0, or prints the refusal and exits 1.
"""
import json
import sys

import jwt


def main() -> int:
    jwks_path, issuer, audience = sys.argv[1:4]
    token = sys.stdin.read().strip()
    with open(jwks_path, encoding="utf-8") as f:
        jwk_set = jwt.PyJWKSet.from_json(f.read())
    kid = jwt.get_unverified_header(token).get("kid")
    try:
        key = jwk_set[kid]
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=["EdDSA"],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iat", "sub"]},
        )
    except (KeyError, jwt.PyJWTError) as e:
        print(f"refused: {type(e).__name__}: {e}")
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""X-Hub-Signature-256 checks on the raw body."""

import hashlib
import hmac

from channels.messenger.signature import sign, verify_signature

SECRET = "app-secret"
BODY = b'{"object":"page","entry":[]}'


def test_right_signature():
    header = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET) == header
    assert verify_signature(BODY, header, SECRET)
    assert verify_signature(BODY, header.upper().replace("SHA256=", "sha256="), SECRET)


def test_missing_wrong_or_altered():
    good = sign(BODY, SECRET)
    assert not verify_signature(BODY, None, SECRET)
    assert not verify_signature(BODY, "", SECRET)
    assert not verify_signature(BODY, good.replace("sha256=", "sha1="), SECRET)
    assert not verify_signature(BODY, sign(BODY, "other-secret"), SECRET)
    assert not verify_signature(BODY + b" ", good, SECRET)
    assert not verify_signature(BODY, "sha256=é" + good[8:], SECRET)


def test_no_secret_never_verifies():
    assert not verify_signature(BODY, sign(BODY, ""), "")

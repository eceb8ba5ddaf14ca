#!/usr/bin/env python3
"""An independent implementation of cosign's key-pair signature formats, for berth's interop
tests: keys (scrypt + NaCl secretbox around PKCS#8, in PEM), simple-signing payloads, ECDSA
P-256 signatures, and the sha256-<hex>.sig tag in a registry. Uses Python's hashlib (scrypt),
PyNaCl and cryptography.

  cosign_ref.py genkey PREFIX PASSWORD LOG_N LABEL   write PREFIX.key and PREFIX.pub
  cosign_ref.py pubkey KEY PASSWORD                  print the public key PEM of an encrypted key
  cosign_ref.py verify-remote REGISTRY REPO DIGEST PUB
        fetch REPO's sha256-<hex>.sig from http://REGISTRY, print the docker-reference of each
        signature PUB verifies (and that signs DIGEST); exit 1 if none
"""
import base64
import hashlib
import json
import os
import sys
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from nacl.bindings import crypto_secretbox, crypto_secretbox_open


def pem(label, der):
    b = base64.b64encode(der).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def unpem(text):
    lines = [l.strip() for l in text.strip().splitlines()]
    assert lines[0].startswith("-----BEGIN ") and lines[-1].startswith("-----END ")
    return lines[0][len("-----BEGIN "):-5], base64.b64decode("".join(lines[1:-1]))


def genkey(prefix, password, log_n, label):
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    salt, nonce = os.urandom(32), os.urandom(24)
    n = 1 << int(log_n)
    k = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32, maxmem=256 << 20)
    sealed = crypto_secretbox(der, nonce, k)
    body = json.dumps({"kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1},
                               "salt": base64.b64encode(salt).decode()},
                       "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
                       "ciphertext": base64.b64encode(sealed).decode()}, separators=(",", ":"))
    with open(prefix + ".key", "w") as f:
        f.write(pem(label, body.encode()))
    with open(prefix + ".pub", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))


def pubkey(path, password):
    label, body = unpem(open(path).read())
    assert label in ("ENCRYPTED COSIGN PRIVATE KEY", "ENCRYPTED SIGSTORE PRIVATE KEY"), label
    doc = json.loads(body)
    assert doc["kdf"]["name"] == "scrypt" and doc["cipher"]["name"] == "nacl/secretbox"
    p = doc["kdf"]["params"]
    k = hashlib.scrypt(password.encode(), salt=base64.b64decode(doc["kdf"]["salt"]), n=p["N"],
                       r=p["r"], p=p["p"], dklen=32, maxmem=256 << 20)
    der = crypto_secretbox_open(base64.b64decode(doc["ciphertext"]),
                                base64.b64decode(doc["cipher"]["nonce"]), k)
    key = serialization.load_der_private_key(der, password=None)
    sys.stdout.write(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


def get(url, accept=None):
    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def verify_remote(registry, repo, digest, pub):
    key = serialization.load_pem_public_key(open(pub, "rb").read())
    tag = digest.replace(":", "-", 1) + ".sig"
    base = "http://%s/v2/%s" % (registry, repo)
    manifest = json.loads(get("%s/manifests/%s" % (base, tag),
                              "application/vnd.oci.image.manifest.v1+json"))
    ok = 0
    for layer in manifest["layers"]:
        if layer["mediaType"] != "application/vnd.dev.cosign.simplesigning.v1+json":
            continue
        payload = get("%s/blobs/%s" % (base, layer["digest"]))
        assert "sha256:" + hashlib.sha256(payload).hexdigest() == layer["digest"]
        sig = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        try:
            key.verify(sig, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        doc = json.loads(payload)
        if doc["critical"]["image"]["docker-manifest-digest"] != digest:
            continue
        assert doc["critical"]["type"] == "cosign container image signature"
        assert "optional" in doc
        print(doc["critical"]["identity"]["docker-reference"])
        ok += 1
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"genkey": genkey, "pubkey": pubkey, "verify-remote": verify_remote}[cmd](*args)

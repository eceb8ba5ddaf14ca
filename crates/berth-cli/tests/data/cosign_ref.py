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
  cosign_ref.py verify-referrers REGISTRY REPO DIGEST PUB
        the same for signatures published as OCI 1.1 referrers of DIGEST (artifact type
        application/vnd.dev.cosign.artifact.sig.v1+json), found through the referrers API (every
        page its Link headers name) or, when it answers 404, the sha256-<hex> referrers tag
  cosign_ref.py sign-referrer REGISTRY REPO DIGEST MEDIA_TYPE SIZE KEY PASSWORD IDENTITY
        sign DIGEST for IDENTITY with KEY and publish the signature as a referrer (updating the
        referrers tag unless the registry answers the manifest's PUT with OCI-Subject)
"""
import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
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


SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def get(url, accept=None):
    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def send(method, url, body, content_type):
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Content-Type", content_type)
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers


def private_key(path, password):
    label, body = unpem(open(path).read())
    doc = json.loads(body)
    p = doc["kdf"]["params"]
    k = hashlib.scrypt(password.encode(), salt=base64.b64decode(doc["kdf"]["salt"]), n=p["N"],
                       r=p["r"], p=p["p"], dklen=32, maxmem=256 << 20)
    der = crypto_secretbox_open(base64.b64decode(doc["ciphertext"]),
                                base64.b64decode(doc["cipher"]["nonce"]), k)
    return serialization.load_der_private_key(der, password=None)


def upload(base, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(base + "/blobs/uploads/", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        location = r.headers["Location"]
    if location.startswith("/"):
        location = base.split("/v2/")[0] + location
    sep = "&" if "?" in location else "?"
    send("PUT", location + sep + "digest=" + digest, data, "application/octet-stream")
    return {"digest": digest, "size": len(data)}


def sign_referrer(registry, repo, digest, media_type, size, key, password, identity):
    base = "http://%s/v2/%s" % (registry, repo)
    payload = json.dumps({"critical": {"identity": {"docker-reference": identity},
                                       "image": {"docker-manifest-digest": digest},
                                       "type": "cosign container image signature"},
                          "optional": None}, separators=(",", ":")).encode()
    sig = private_key(key, password).sign(payload, ec.ECDSA(hashes.SHA256()))
    layer = dict(upload(base, payload), mediaType="application/vnd.dev.cosign.simplesigning.v1+json",
                 annotations={"dev.cosignproject.cosign/signature": base64.b64encode(sig).decode()})
    config = dict(upload(base, b"{}"), mediaType="application/vnd.oci.empty.v1+json")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "artifactType": SIG_ARTIFACT, "config": config, "layers": [layer],
                           "subject": {"mediaType": media_type, "digest": digest,
                                       "size": int(size)}}).encode()
    mdigest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    _, headers = send("PUT", "%s/manifests/%s" % (base, mdigest), manifest, OCI_MANIFEST)
    if headers.get("OCI-Subject") == digest:
        return
    tag = digest.replace(":", "-", 1)
    try:
        index = json.loads(get("%s/manifests/%s" % (base, tag), OCI_INDEX))
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    index["manifests"].append({"mediaType": OCI_MANIFEST, "digest": mdigest,
                               "size": len(manifest), "artifactType": SIG_ARTIFACT})
    send("PUT", "%s/manifests/%s" % (base, tag), json.dumps(index).encode(), OCI_INDEX)


def verify_referrers(registry, repo, digest, pub):
    key = serialization.load_pem_public_key(open(pub, "rb").read())
    base = "http://%s/v2/%s" % (registry, repo)
    try:
        manifests, url = [], "%s/referrers/%s" % (base, digest)
        while url:
            req = urllib.request.Request(url)
            req.add_header("Accept", OCI_INDEX)
            with urllib.request.urlopen(req, timeout=10) as r:
                manifests += json.loads(r.read())["manifests"]
                nxt = [l for l in r.headers.get_all("Link") or [] if 'rel="next"' in l]
            url = urllib.parse.urljoin(url, nxt[0].split(";")[0].strip()[1:-1]) if nxt else None
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        manifests = json.loads(get("%s/manifests/%s" % (base, digest.replace(":", "-", 1)),
                                   OCI_INDEX))["manifests"]
    ok = 0
    for d in manifests:
        if d.get("artifactType") != SIG_ARTIFACT:
            continue
        raw = get("%s/manifests/%s" % (base, d["digest"]), OCI_MANIFEST)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == d["digest"]
        manifest = json.loads(raw)
        assert manifest["artifactType"] == SIG_ARTIFACT, manifest
        assert manifest["subject"]["digest"] == digest, manifest
        assert manifest["config"] == {"mediaType": "application/vnd.oci.empty.v1+json",
                                      "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
                                      "size": 2}, manifest
        ok += check_layers(base, manifest, key, digest)
    sys.exit(0 if ok else 1)


def verify_remote(registry, repo, digest, pub):
    key = serialization.load_pem_public_key(open(pub, "rb").read())
    tag = digest.replace(":", "-", 1) + ".sig"
    base = "http://%s/v2/%s" % (registry, repo)
    manifest = json.loads(get("%s/manifests/%s" % (base, tag),
                              "application/vnd.oci.image.manifest.v1+json"))
    sys.exit(0 if check_layers(base, manifest, key, digest) else 1)


def check_layers(base, manifest, key, digest):
    """Prints the identity of each layer's signature KEY verifies for DIGEST; returns how many."""
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
    return ok


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"genkey": genkey, "pubkey": pubkey, "verify-remote": verify_remote,
     "verify-referrers": verify_referrers, "sign-referrer": sign_referrer}[cmd](*args)

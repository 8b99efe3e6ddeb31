"""Certificates for the local cluster, made with the openssl command line: one CA, the API server's serving
certificate, a client certificate per control-plane user, and the service-account signing key."""

from __future__ import annotations

import subprocess
from pathlib import Path

# Names the API server is reached by: on the host, and from (fake) pods through the `kubernetes` Service.
API_SERVER_SANS = ("IP:127.0.0.1", "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                   "DNS:kubernetes.default.svc", "IP:127.96.0.1")


def _openssl(*args: str) -> None:
    done = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {done.stderr.strip()}")


def _signed(directory: Path, name: str, subject: str, extensions: str) -> None:
    key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("key", "csr", "ext"))
    _openssl("genrsa", "-out", str(key), "2048")
    _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
    ext.write_text(extensions)
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.crt"), "-CAkey", str(directory / "ca.key"),
             "-CAcreateserial", "-days", "30", "-sha256", "-extfile", str(ext), "-out", str(directory / f"{name}.crt"))
    csr.unlink()
    ext.unlink()


def make_pki(directory: Path, clients: dict[str, str]) -> None:
    """Write ca.*, apiserver.*, sa.key/sa.pub and one <name>.crt/.key per client (name -> openssl subject)."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(directory / "ca.key"),
             "-out", str(directory / "ca.crt"), "-days", "30", "-subj", "/CN=sparkstack-local-ca")
    _signed(directory, "apiserver", "/CN=kube-apiserver",
            f"subjectAltName={','.join(API_SERVER_SANS)}\nextendedKeyUsage=serverAuth\n")
    for name, subject in clients.items():
        _signed(directory, name, subject, "extendedKeyUsage=clientAuth\n")
    _openssl("genrsa", "-out", str(directory / "sa.key"), "2048")
    _openssl("rsa", "-in", str(directory / "sa.key"), "-pubout", "-out", str(directory / "sa.pub"))

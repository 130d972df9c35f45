"""HTTP: one-shot requests (plain or TLS), signed webhook POSTs, raw-socket requests,
Prometheus text parsing (metrics, metric) and a throwaway TLS certificate.
"""

import http.client
import os
import socket
import ssl
import subprocess

from .zoom import zoom_request_headers


def http_request(port, method, path, body=b"", headers=None, timeout=5, tls=False, host="127.0.0.1"):
    """One HTTP/1.1 request on a fresh connection. Returns (status, lowercased headers, body)."""
    if isinstance(body, str):
        body = body.encode()
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body if (body or method in ("POST", "PUT")) else None,
                     headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def post_hook(port, source, secret, body, ts=None, headers=None, timeout=5, tls=False):
    """POSTs body to /hooks/<source> signed with secret. Returns http_request's triple."""
    if isinstance(body, str):
        body = body.encode()
    h = zoom_request_headers(secret, body, ts, extra=headers)
    return http_request(port, "POST", f"/hooks/{source}", body, h, timeout=timeout, tls=tls)


def raw_request(port, data, timeout=5, host="127.0.0.1"):
    """Sends raw bytes, half-closes, returns everything read until the server closes."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def metrics(port, path="/metrics"):
    """GET /metrics parsed into {'name{labels}': float} (labels verbatim, no labels: 'name')."""
    status, _, body = http_request(port, "GET", path)
    if status != 200:
        raise AssertionError(f"GET {path} on port {port}: {status}")
    out = {}
    for line in body.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            # labels may hold spaces and '}' inside quotes: find the closing brace outside them
            i = line.index("{")
            j, quoted, esc = i + 1, False, False
            while j < len(line):
                c = line[j]
                if esc:
                    esc = False
                elif c == "\\":
                    esc = True
                elif c == '"':
                    quoted = not quoted
                elif c == "}" and not quoted:
                    break
                j += 1
            key, rest = line[: j + 1], line[j + 1 :].split()
        else:
            parts = line.split()
            key, rest = parts[0], parts[1:]
        if rest:
            out[key] = float(rest[0])
    return out


def metric(m, name, **labels):
    """The value of one sample of metrics() output, 0 when absent. Labels match in any order;
    a label-less sample may be rendered as name or name{}."""
    if labels:
        want = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels))
        for key, value in m.items():
            if not key.startswith(name + "{"):
                continue
            got = ",".join(sorted(key[len(name) + 1:-1].split(",")))
            if got == want:
                return value
        return 0
    return m.get(name, m.get(name + "{}", 0))


def rows_inserted(admin_ports):
    """Rows the writers serving /metrics on admin_ports have stored so far, summed
    (hookpipe_writer_rows_inserted_total): what the bench follows instead of count(*)."""
    return sum(int(metric(metrics(port), "hookpipe_writer_rows_inserted_total"))
               for port in admin_ports)


TLS_KEYS = {"rsa": ["-newkey", "rsa:2048"],
            "ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]}


def tls_cert(directory, cn="127.0.0.1", kind="rsa"):
    """A self-signed cert + key (openssl CLI) in directory, an RSA 2048 or (kind "ecdsa") an
    ECDSA P-256 one. Returns (cert_path, key_path)."""
    cert = os.path.join(str(directory), "cert.pem")
    key = os.path.join(str(directory), "key.pem")
    subprocess.run(["openssl", "req", "-x509", *TLS_KEYS[kind], "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=IP:{cn}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return cert, key

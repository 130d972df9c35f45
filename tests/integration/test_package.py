"""The Debian package: deploy/build-deb writes dist/hookpipe_VERSION_ARCH.deb (lintian clean,
checked by build-deb itself), with the binaries in /usr/bin, the units in
/lib/systemd/system, /etc/hookpipe/hookpipe.ini as a conffile, a postinst creating the
hookpipe-gateway and hookpipe-writer system users (the group hookpipe reads the config),
docs and the example config in /usr/share/doc/hookpipe; unpacked into a throwaway root,
every binary answers --version and --check-config on the installed example, hookpipe-send
(with its man page) answers --help; debian/copyright states the Apache-2.0 licence of
LICENSE; `cmake --install` lays out the same files.
"""

import os
import re
import shutil
import subprocess

import pytest

import harness

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("HOOKPIPE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))


def _version():
    with open(os.path.join(SOURCE_DIR, "VERSION")) as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def deb():
    for tool in ("dpkg-buildpackage", "dh", "lintian", "fakeroot"):
        if shutil.which(tool) is None:
            pytest.fail("%s missing: tests/run installs dpkg-dev debhelper lintian fakeroot" % tool)
    if harness.SANITIZED:
        pytest.skip("the package is built and checked once, in the non-sanitizer test run")
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    path = os.path.join(SOURCE_DIR, "dist", "hookpipe_%s_%s.deb" % (_version(), arch))
    if os.path.exists(path):
        os.unlink(path)
    # nocheck: tests/run has already run the unit tests on this tree
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck")
    r = subprocess.run([os.path.join(SOURCE_DIR, "deploy", "build-deb")], capture_output=True,
                       text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr  # includes lintian's verdict
    assert r.stdout.strip().splitlines()[-1] == os.path.relpath(path, SOURCE_DIR)
    assert os.path.exists(path)
    return path


def _contents(deb):
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                         check=True).stdout
    files = {}
    for line in out.splitlines():
        fields = line.split(None, 5)
        name = fields[5].split(" -> ")[0].lstrip(".")
        files[name] = fields[0]
    return files


def _field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.timeout(900)
def test_package_layout(deb):
    files = _contents(deb)
    for path in ("/usr/bin/hookpipe-gateway", "/usr/bin/hookpipe-writer"):
        assert files[path].startswith("-rwxr-xr-x"), (path, files[path])
    if os.path.exists(os.path.join(SOURCE_DIR, "ctl")):
        assert "/usr/bin/hookpipe-ctl" in files
    # the sender the README's examples use, with its man page
    sender = files["/usr/bin/hookpipe-send"]
    assert sender.startswith("-rwxr-xr-x"), sender
    assert "/usr/share/man/man1/hookpipe-send.1.gz" in files
    assert "/lib/systemd/system/hookpipe-gateway.service" in files
    assert "/lib/systemd/system/hookpipe-writer@.service" in files
    assert "/etc/hookpipe/hookpipe.ini" in files
    doc = "/usr/share/doc/hookpipe/"
    for name in ("README.md.gz", "design.md", "copyright", "changelog.gz",
                 "examples/hookpipe.example.ini", "examples/observability/prometheus-rules.yml",
                 "examples/observability/grafana-dashboard.json"):
        assert any(p in (doc + name, doc + name + ".gz", doc + name[:-3]) for p in files), name
    assert _field(deb, "Package") == "hookpipe"
    assert _field(deb, "Version") == _version()
    depends = _field(deb, "Depends")
    for lib in ("libevent", "libhiredis", "libpq5", "libjansson", "libssl3", "libinih", "adduser"):
        assert lib in depends, (lib, depends)
    assert re.search(r"(^|, )python3(,|$)", depends), depends  # hookpipe-send's interpreter


@pytest.mark.timeout(300)
def test_package_states_the_apache_licence(deb, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    copyright = (root / "usr/share/doc/hookpipe/copyright").read_text()
    assert copyright.startswith(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    assert "Upstream-Name: hookpipe\n" in copyright and "\nSource: " in copyright
    assert re.search(r"^Files: \*\nCopyright: .+\nLicense: Apache-2\.0$", copyright, re.M)
    assert "\nLicense: Apache-2.0\n Licensed under the Apache License, Version 2.0" in copyright
    assert "'/usr/share/common-licenses/Apache-2.0'" in copyright
    # LICENSE is the licence's full text, as Debian ships it
    with open(os.path.join(SOURCE_DIR, "LICENSE")) as f:
        text = f.read()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    if os.path.exists("/usr/share/common-licenses/Apache-2.0"):
        with open("/usr/share/common-licenses/Apache-2.0") as f:
            assert text == f.read()


@pytest.mark.timeout(300)
def test_package_conffile_user_and_units(deb, tmp_path):
    ctrl = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(ctrl)], check=True)
    assert (ctrl / "conffiles").read_text().split() == ["/etc/hookpipe/hookpipe.ini"]
    postinst = (ctrl / "postinst").read_text()
    assert re.search(r"adduser --system --group .*\"\$1\"", postinst.replace("\\\n", " "))
    assert "daemon_user hookpipe-gateway" in postinst and "daemon_user hookpipe-writer" in postinst
    assert "dpkg-statoverride --update --add root hookpipe 0640 /etc/hookpipe/hookpipe.ini" \
        in postinst
    # units are installed, neither enabled nor started by the package
    assert "deb-systemd-invoke start" not in postinst
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    for unit in ("hookpipe-gateway.service", "hookpipe-writer@.service"):
        text = (root / "lib/systemd/system" / unit).read_text()
        for line in text.splitlines():
            if line.startswith(("ExecStart=", "ExecStartPre=")):
                assert line.split("=", 1)[1].startswith("/usr/bin/hookpipe-"), line


@pytest.mark.timeout(300)
def test_installed_binaries_run_on_the_installed_example(deb, tmp_path):
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
    bins = sorted((root / "usr/bin").iterdir())
    assert {b.name for b in bins} >= {"hookpipe-gateway", "hookpipe-writer"}
    env = dict(os.environ, HOOKPIPE_SECRET_EXAMPLE="example-secret-token")
    env.pop("HOOKPIPE_CONFIG", None)
    example = root / "usr/share/doc/hookpipe/examples/hookpipe.example.ini"
    conffile = root / "etc/hookpipe/hookpipe.ini"
    assert example.read_bytes() == conffile.read_bytes()
    for b in bins:
        if b.name == "hookpipe-send":
            # a Python script with no --version: it runs from /usr/bin and answers --help
            r = subprocess.run([str(b), "--help"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and "usage: hookpipe-send" in r.stdout, (r.stdout, r.stderr)
            assert "--secret-file" in r.stdout
            continue
        r = subprocess.run([str(b), "--version"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, (b.name, r.stderr)
        assert _version() in r.stdout + r.stderr, (b.name, r.stdout, r.stderr)
        if b.name == "hookpipe-ctl":
            # hookpipe-ctl has no --check-config (it reads the file per command)
            r = subprocess.run([str(b), "--help"], capture_output=True, text=True, timeout=30)
            assert r.returncode == 0 and "status" in r.stdout, (r.stdout, r.stderr)
            continue
        for config in (conffile, example):
            r = subprocess.run([str(b), "-c", str(config), "--check-config"],
                               capture_output=True, text=True, env=env, timeout=30)
            assert r.returncode == 0, (b.name, config, r.stdout, r.stderr)
        # and a broken file is refused, so the 0 above means something
        bad = tmp_path / "bad.ini"
        bad.write_text(conffile.read_text() + "\n[gateway]\nno_such_key = 1\n")
        r = subprocess.run([str(b), "-c", str(bad), "--check-config"], capture_output=True,
                           text=True, env=env, timeout=30)
        assert r.returncode == 2, (b.name, r.stdout, r.stderr)


@pytest.mark.timeout(300)
def test_cmake_install_gives_the_package_layout(deb, tmp_path):
    dest = tmp_path / "dest"
    r = subprocess.run(["cmake", "--install", BUILD_DIR, "--prefix", "/usr"], capture_output=True,
                       text=True, env=dict(os.environ, DESTDIR=str(dest)), timeout=120)
    assert r.returncode == 0, r.stderr
    installed = set()
    for d, _, names in os.walk(dest):
        for n in names:
            installed.add("/" + os.path.relpath(os.path.join(d, n), dest))
    assert os.access(dest / "usr/bin/hookpipe-send", os.X_OK)
    # what only the package adds: dh's changelog, copyright, man pages, compressed docs
    packaged = {p[:-3] if p.endswith(".gz") else p for p, mode in _contents(deb).items()
                if not mode.startswith("d")}
    packaged -= {p for p in packaged if p.startswith("/usr/share/man/") or
                 p in ("/usr/share/doc/hookpipe/changelog", "/usr/share/doc/hookpipe/copyright")}
    packaged -= {p for p in packaged if p.startswith("/usr/share/lintian/")}
    assert installed == packaged, (sorted(installed - packaged), sorted(packaged - installed))


@pytest.mark.timeout(600)
def test_package_installs_and_purges_in_a_container(deb, tmp_path):
    """A real install (apt-get install ./deb in a Debian 12 container): the postinst makes
    the two users (the writer's reads the config without any secret, the gateway's cannot
    read the writer's environment file) and the conffile's owner and mode; the binaries
    run; a purge removes it all."""
    import container_engine

    reason = container_engine.why_not()
    if reason:
        pytest.skip("container install skipped: " + reason)
    e = container_engine.Engine()
    try:
        e.start()
        e.base_images()
        shutil.copy(deb, tmp_path / "hookpipe.deb")
        (tmp_path / "Dockerfile").write_text(
            "FROM debian:12-slim\nCOPY hookpipe.deb /tmp/hookpipe.deb\n"
            "RUN apt-get update && apt-get install -y --no-install-recommends /tmp/hookpipe.deb\n")
        tag = "hookpipe-test/deb-install:latest"
        e.docker("build", "--network", "host", "-q", "-t", tag, str(tmp_path), timeout=600)
        script = (
            "set -e\n"
            "for u in hookpipe-gateway hookpipe-writer; do getent passwd $u | cut -d: -f1,6,7; "
            "echo \"$u in: $(id -nG $u)\"; done\n"
            "stat -c '%U:%G %a' /etc/hookpipe/hookpipe.ini\n"
            # the writer reads the config through the group and needs no webhook secret; the
            # gateway's user cannot read the writer's root-only environment file
            "runuser -u hookpipe-writer -- hookpipe-writer -c /etc/hookpipe/hookpipe.ini "
            "--check-config >/dev/null && echo writer-reads-config\n"
            "install -m 0600 /dev/null /etc/hookpipe/writer.env\n"
            "echo PGPASSWORD=pw >/etc/hookpipe/writer.env\n"
            "runuser -u hookpipe-gateway -- cat /etc/hookpipe/writer.env 2>/dev/null "
            "|| echo gateway-cannot-read-writer-env\n"
            "rm /etc/hookpipe/writer.env\n"
            "export HOOKPIPE_SECRET_EXAMPLE=s3cret\n"
            "for b in /usr/bin/hookpipe-gateway /usr/bin/hookpipe-writer; do $b --version; "
            "$b -c /etc/hookpipe/hookpipe.ini --check-config >/dev/null; echo \"$b ok\"; done\n"
            "if [ -x /usr/bin/hookpipe-ctl ]; then hookpipe-ctl --version; fi\n"
            # python3 came in as a dependency: the sender runs
            "hookpipe-send --help >/dev/null && echo sender-runs\n"
            "systemd-analyze --version >/dev/null 2>&1 || true\n"
            "test -f /lib/systemd/system/hookpipe-gateway.service && echo units\n"
            "apt-get purge -y hookpipe >/dev/null 2>&1\n"
            "test ! -e /etc/hookpipe/hookpipe.ini && echo purged\n"
            "dpkg-statoverride --list /etc/hookpipe/hookpipe.ini || echo no-override\n")
        r = e.docker("run", "--rm", "--network", "none", tag, "bash", "-c", script, timeout=120)
        out = r.stdout.splitlines()
        assert "hookpipe-gateway:/nonexistent:/usr/sbin/nologin" in out, r.stdout
        assert "hookpipe-writer:/nonexistent:/usr/sbin/nologin" in out, r.stdout
        assert "hookpipe-gateway in: hookpipe-gateway hookpipe" in out, r.stdout
        assert "hookpipe-writer in: hookpipe-writer hookpipe" in out, r.stdout
        assert "writer-reads-config" in out and "gateway-cannot-read-writer-env" in out, r.stdout
        assert "PGPASSWORD=pw" not in r.stdout
        assert "root:hookpipe 640" in out, r.stdout
        assert "/usr/bin/hookpipe-gateway ok" in out and "/usr/bin/hookpipe-writer ok" in out
        assert "units" in out and "purged" in out and "no-override" in out, r.stdout
        assert "sender-runs" in out, r.stdout
    finally:
        e.stop()

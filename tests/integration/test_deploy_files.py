"""The shipped deployment files are valid: docker-compose.yml (as parsed by python3-yaml, and
by docker-compose config when installed; no engine runs here), .env.example, every deploy INI accepted by both daemons' --check-config, the systemd
units (systemd-analyze verify), the Dockerfile's shape, the container health check script,
and that the example config and the configuration reference (docs/configuration.md) name every
key of common/config.c; that every relative link of README.md and docs/*.md resolves;
the version in one place (VERSION), which binaries, .deb, images and CHANGELOG.md follow.
"""

import configparser
import glob
import http.server
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

import harness

SOURCE_DIR = os.environ.get(
    "HOOKPIPE_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("HOOKPIPE_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
DEPLOY = os.path.join(SOURCE_DIR, "deploy")
COMPOSE = os.path.join(SOURCE_DIR, "docker-compose.yml")
COMPOSE_ENV = {"HOOKPIPE_SECRET_EXAMPLE": "test-secret", "HOOKPIPE_PG_PASSWORD": "test-password"}
INI_FILES = sorted(glob.glob(os.path.join(DEPLOY, "*.ini")) +
                   glob.glob(os.path.join(DEPLOY, "compose", "*.ini")))


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKPIPE_SECRET")}
    env.update(extra)
    return env


def _compose(*args, env):
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed (Debian package docker-compose)")
    return subprocess.run(["docker-compose", "-f", COMPOSE, *args], capture_output=True,
                          text=True, env=env, cwd=SOURCE_DIR, timeout=120)


def test_compose_config_is_valid():
    r = _compose("config", "-q", env=_env(**COMPOSE_ENV))
    assert r.returncode == 0, r.stderr


def test_compose_refuses_to_start_without_secrets():
    r = _compose("config", "-q", env=_env(HOOKPIPE_PG_PASSWORD="x"))
    assert r.returncode != 0
    assert "HOOKPIPE_SECRET_EXAMPLE" in r.stderr


def test_compose_services_scale_and_persist():
    yaml = pytest.importorskip("yaml")
    r = _compose("config", env=_env(**COMPOSE_ENV))
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    services = doc["services"]
    assert {"postgres", "redis", "gateway", "writer", "migrate"} <= set(services)
    # --scale writer=N needs: no fixed container name, no fixed host port, no fixed name.
    writer = services["writer"]
    assert "container_name" not in writer and "ports" not in writer
    assert all("container_name" not in s for s in services.values())
    assert writer["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["postgres"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd and "--appendfsync everysec" in redis_cmd
    assert {"pg-data", "redis-data"} <= set(doc["volumes"])
    for name in ("gateway", "writer", "migrate"):
        mounts = [_bind_mount(m) for m in services[name]["volumes"]]
        assert (os.path.join(SOURCE_DIR, "deploy", "compose"), "/etc/hookpipe", True) in mounts, \
            mounts
    assert services["gateway"]["build"]["target"] == "gateway"
    assert services["writer"]["build"]["target"] == "writer"


def test_compose_passes_each_secret_only_where_it_is_needed():
    """Least privilege (issue 19): the webhook secrets go to the gateway only (the writer
    resolves none), PGPASSWORD to the writers and migrate only (the gateway never talks to
    PostgreSQL)."""
    yaml = pytest.importorskip("yaml")
    r = _compose("config", env=_env(**COMPOSE_ENV))
    assert r.returncode == 0, r.stderr
    services = yaml.safe_load(r.stdout)["services"]
    secret_keys = lambda name: {k for k in services[name].get("environment") or {}
                                if k.startswith("HOOKPIPE_SECRET")}
    assert services["gateway"]["environment"]["HOOKPIPE_SECRET_EXAMPLE"] == "test-secret"
    assert "PGPASSWORD" not in services["gateway"]["environment"]
    for name in ("writer", "migrate"):
        assert secret_keys(name) == set(), (name, services[name]["environment"])
        assert services[name]["environment"]["PGPASSWORD"] == "test-password"
    for name in set(services) - {"gateway"}:
        assert secret_keys(name) == set(), name


def _bind_mount(m):
    """(host path made absolute, container path, read-only) of a short- or long-form volume."""
    if isinstance(m, dict):
        source, target, ro = m.get("source", ""), m["target"], bool(m.get("read_only"))
    else:
        parts = m.split(":")
        source, target = parts[0], parts[1]
        ro = len(parts) > 2 and "ro" in parts[2].split(",")
    if source.startswith("."):
        source = os.path.normpath(os.path.join(SOURCE_DIR, source))
    return source, target, ro


def _compose_file():
    """docker-compose.yml as written (python3-yaml; merge keys resolved)."""
    yaml = pytest.importorskip("yaml")
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def _container_config(service):
    """The host path of the INI file the service's -c names, through its bind mounts."""
    cmd = service["command"]
    container_path = cmd[cmd.index("-c") + 1]
    assert service["environment"]["HOOKPIPE_CONFIG"] == container_path
    for source, target, _ in (_bind_mount(m) for m in service["volumes"]):
        if container_path.startswith(target.rstrip("/") + "/"):
            return os.path.join(source, container_path[len(target.rstrip("/")) + 1:])
    raise AssertionError("%s is in no mounted directory" % container_path)


def test_compose_postgres_healthcheck_goes_over_tcp():
    # Over the Unix socket pg_isready already passes while the image's temporary init
    # server runs (it listens on no TCP port), and migrate then fails its first connection.
    test = _compose_file()["services"]["postgres"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"], test
    assert "-h" in test and test[test.index("-h") + 1] == "127.0.0.1", test


def test_compose_migrate_waits_for_postgres_and_has_no_healthcheck():
    services = _compose_file()["services"]
    migrate = services["migrate"]
    # The writer image's HEALTHCHECK would mark the one-shot container unhealthy.
    assert migrate["healthcheck"] == {"disable": True}
    for name in ("gateway", "writer"):
        assert "disable" not in services[name].get("healthcheck", {}), name
    assert "--migrate" in migrate["command"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    # --migrate retries connection errors for migrate_wait_s (the compose INI sets it).
    ini = configparser.ConfigParser(inline_comment_prefixes=(";",))
    assert ini.read(_container_config(migrate))
    assert int(ini["writer"]["migrate_wait_s"]) >= 30


def test_compose_mounts_a_config_directory_read_only():
    # A single-file bind mount pins the file's inode: an editor that writes a new file and
    # renames it over the old one leaves the container reading the old content on SIGHUP.
    services = _compose_file()["services"]
    for name in ("gateway", "writer", "migrate"):
        svc = services[name]
        mounts = [_bind_mount(m) for m in svc["volumes"]]
        for source, target, ro in mounts:
            assert os.path.isdir(source), "%s: %s is not a directory" % (name, source)
            assert ro, "%s: %s is not read-only" % (name, target)
        assert os.path.isfile(_container_config(svc)), name


def test_env_example_lists_every_compose_variable():
    with open(COMPOSE) as f:
        wanted = set(re.findall(r"\$\{(\w+)", f.read()))
    assert {"HOOKPIPE_SECRET_EXAMPLE", "HOOKPIPE_PG_PASSWORD"} <= wanted
    with open(os.path.join(SOURCE_DIR, ".env.example")) as f:
        listed = set(re.findall(r"^(\w+)=", f.read(), re.M))
    assert wanted <= listed, "not in .env.example: %s" % sorted(wanted - listed)
    # The filled-in copy holds secrets: never committed, never in a build context.
    for name in (".gitignore", ".dockerignore"):
        with open(os.path.join(SOURCE_DIR, name)) as f:
            assert re.search(r"^/?\.env$", f.read(), re.M), name
    with open(os.path.join(SOURCE_DIR, "docs", "deployment.md")) as f:
        assert "cp .env.example .env" in f.read()


def test_compose_reads_the_env_file(tmp_path):
    # Filled in, .env.example is all compose needs; as shipped (empty) it is refused.
    with open(os.path.join(SOURCE_DIR, ".env.example")) as f:
        example = f.read()
    filled = re.sub(r"^(HOOKPIPE_SECRET_EXAMPLE|HOOKPIPE_PG_PASSWORD)=$", r"\1=from-env-file",
                    example, flags=re.M)
    assert filled != example
    (tmp_path / "filled.env").write_text(filled)
    (tmp_path / "as-shipped.env").write_text(example)
    r = _compose("--env-file", str(tmp_path / "filled.env"), "config", env=_env())
    assert r.returncode == 0, r.stderr
    assert "from-env-file" in r.stdout
    r = _compose("--env-file", str(tmp_path / "as-shipped.env"), "config", "-q", env=_env())
    assert r.returncode != 0
    assert "HOOKPIPE_SECRET_EXAMPLE" in r.stderr or "HOOKPIPE_PG_PASSWORD" in r.stderr


def test_deployment_doc_warns_about_the_nofile_hard_limit():
    with open(os.path.join(SOURCE_DIR, "docs", "deployment.md")) as f:
        doc = f.read()
    nofile = _compose_file()["services"]["gateway"]["ulimits"]["nofile"]
    assert nofile["soft"] == nofile["hard"] == "${HOOKPIPE_NOFILE:-65536}", nofile
    m = re.search(r"<!-- section:production -->(.*)<!-- /section:production -->", doc, re.S)
    assert m
    assert re.search(r"`nofile`[^.]*hard limit[^.]*rootless[^.]*`HOOKPIPE_NOFILE`", m.group(1),
                     re.S), \
        "docs/deployment.md does not say nofile must not exceed the host's hard limit " \
        "(rootless engines)"


def test_compose_nofile_follows_the_env_file(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("HOOKPIPE_SECRET_EXAMPLE=s\nHOOKPIPE_PG_PASSWORD=p\nHOOKPIPE_NOFILE=4096\n")
    r = _compose("--env-file", str(env_file), "config", env=_env())
    assert r.returncode == 0, r.stderr
    yaml = pytest.importorskip("yaml")
    nofile = yaml.safe_load(r.stdout)["services"]["gateway"]["ulimits"]["nofile"]
    assert nofile == {"soft": 4096, "hard": 4096}


def _zoom_contract_errors(text):
    """What a text says against Zoom's retry contract: a delivery is done only on a 200 or
    204 within 3 s; anything else (4xx included) is retried three times, then dropped."""
    wrong = [r"never 4xx", r"retries 5xx", r"(does not|doesn't|never) retr\w* (a |an )?`?4\d\d",
             r"4xx[^.|]*(not|never) retried"]
    return [m.group(0) for w in wrong for m in re.finditer(w, text, re.I)]


def test_docs_state_zoom_retry_contract():
    with open(os.path.join(SOURCE_DIR, "README.md")) as f:
        assert _zoom_contract_errors(f.read()) == []
    with open(os.path.join(SOURCE_DIR, "docs", "authentication.md")) as f:
        doc = f.read()
    m = re.search(r"\*\*What Zoom does with the answer\.\*\*(.*?)\n\n", doc, re.S)
    assert m, "docs/authentication.md lacks the paragraph on what Zoom does with the answer"
    para = " ".join(m.group(1).split())
    for fact in ("`200` or `204` within 3 seconds", "`401`", "three times", "5 minutes",
                 "20 minutes", "60 minutes", "drops the event",
                 "https://developers.zoom.us/blog/webhook-delays"):
        assert fact in para, fact
    # The same wrong rule anywhere else in the project's own prose and code.
    for pattern in ("docs/*.md", "deploy/*", "deploy/*/*", "tools/*", "gateway/*.[ch]",
                    "common/*.[ch]", "writer/*.[ch]", "docker-compose.yml"):
        for path in glob.glob(os.path.join(SOURCE_DIR, pattern)):
            if os.path.isfile(path):
                with open(path, errors="replace") as f:
                    assert _zoom_contract_errors(f.read()) == [], path


def test_dockerfile_is_multistage_nonroot_with_healthchecks():
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        text = f.read()
    stages = re.findall(r"^FROM (\S+) AS (\S+)", text, re.M)
    assert ("debian:12-slim", "build") in stages and ("debian:12-slim", "runtime") in stages
    assert ("runtime", "gateway") in stages and ("runtime", "writer") in stages
    runtime = text.split("AS runtime", 1)[1]
    assert "-dev" not in runtime  # only shared libraries in the runtime image
    assert re.search(r"^USER hookpipe$", runtime, re.M)
    assert 'hookpipe-healthcheck", "9101"' in text and 'hookpipe-healthcheck", "9102"' in text
    with open(os.path.join(SOURCE_DIR, ".dockerignore")) as f:
        ignored = f.read().split()
    assert ".run" in ignored and "build" in ignored


@pytest.mark.parametrize("ini", INI_FILES, ids=[os.path.relpath(p, DEPLOY) for p in INI_FILES])
@pytest.mark.parametrize("daemon", ["hookpipe-gateway", "hookpipe-writer"])
def test_shipped_ini_passes_check_config(ini, daemon):
    binary = os.path.join(BUILD_DIR, daemon)
    if not os.access(binary, os.X_OK):
        pytest.skip("%s not built" % binary)
    r = subprocess.run([binary, "-c", ini, "--check-config"], capture_output=True, text=True,
                       env=_env(HOOKPIPE_SECRET_EXAMPLE="test-secret"), timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok" in r.stdout
    # The secret really comes from the environment: without it the gateway refuses the file;
    # the writer, which resolves no webhook secret (least privilege), does not need it.
    r = subprocess.run([binary, "-c", ini, "--check-config"], capture_output=True, text=True,
                       env=_env(), timeout=30)
    if daemon == "hookpipe-gateway":
        assert r.returncode == 2
        assert "HOOKPIPE_SECRET_EXAMPLE" in r.stderr
    else:
        assert r.returncode == 0, r.stdout + r.stderr


def _config_keys():
    """(section, key) of every key in the typed table of common/config.c."""
    with open(os.path.join(SOURCE_DIR, "common", "config.c")) as f:
        text = f.read()
    table = text[text.index("config_keys[] = {"):]
    table = table[:table.index("};")]
    keys = re.findall(r'CK_\w+\(\s*"(\w+)",\s*[\w.]+,\s*"(\w+)"', table)
    assert len(keys) > 20, "config.c key table not found"
    return keys


SOURCE_KEYS = ["provider", "secret", "secret_file", "secret_env", "secret_previous",
               "secret_previous_file", "secret_previous_env"]


def test_example_ini_documents_every_key():
    with open(os.path.join(DEPLOY, "hookpipe.example.ini")) as f:
        text = f.read()
    sections = {}
    current = None
    for line in text.splitlines():
        m = re.match(r"^\[([\w.]+)\]", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^;?\s*(\w+)\s*=", line)
        if m and current:
            sections.setdefault(current, set()).add(m.group(1))
    for section, key in _config_keys():
        assert key in sections.get(section, set()), "[%s] %s missing" % (section, key)


def test_config_reference_names_every_key():
    with open(os.path.join(SOURCE_DIR, "docs", "configuration.md")) as f:
        doc = f.read()
    m = re.search(r"<!-- section:config-reference -->(.*)<!-- /section:config-reference -->",
                  doc, re.S)
    assert m, "docs/configuration.md config-reference section missing"
    ref = m.group(1)
    for section, key in _config_keys():
        assert "`%s`" % key in ref, "[%s] %s not in docs/configuration.md" % (section, key)
        assert "[%s]" % section in ref
    for key in SOURCE_KEYS:
        assert "`%s`" % key in ref, key


def _unit_copies(tmp_path):
    """The units with ExecStart pointing at the built daemons (verify wants them to exist)."""
    out = []
    for unit in glob.glob(os.path.join(DEPLOY, "systemd", "*.service")):
        with open(unit) as f:
            text = f.read()
        for daemon in ("hookpipe-gateway", "hookpipe-writer"):
            binary = os.path.join(BUILD_DIR, daemon)
            if daemon in text and not os.access(binary, os.X_OK):
                pytest.skip("%s not built" % binary)
            text = text.replace("/usr/bin/" + daemon, binary)
        dest = tmp_path / os.path.basename(unit)
        dest.write_text(text)
        out.append(dest)
    return out


def test_systemd_units_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    units = _unit_copies(tmp_path)
    names = sorted(os.path.basename(u) for u in units)
    assert names == ["hookpipe-gateway.service", "hookpipe-writer@.service"]
    for unit in (tmp_path / "hookpipe-gateway.service", tmp_path / "hookpipe-writer@3.service"):
        r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        # verify only warns about unknown keys or bad values; any line about our units fails.
        ours = [line for line in r.stderr.splitlines() if "hookpipe" in line]
        assert ours == [], "\n".join(ours)


def test_systemd_units_are_hardened():
    wanted = ["NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
              "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "MemoryDenyWriteExecute=yes",
              "Restart=on-failure", "SupplementaryGroups=hookpipe", "CapabilityBoundingSet="]
    for name in ("hookpipe-gateway.service", "hookpipe-writer@.service"):
        with open(os.path.join(DEPLOY, "systemd", name)) as f:
            lines = f.read().splitlines()
        for w in wanted:
            assert w in lines, "%s lacks %s" % (name, w)
    with open(os.path.join(DEPLOY, "systemd", "hookpipe-gateway.service")) as f:
        gw = f.read().splitlines()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in gw
    assert any(re.match(r"LimitNOFILE=\d{5,}", line) for line in gw)
    with open(os.path.join(DEPLOY, "systemd", "hookpipe-writer@.service")) as f:
        assert "%i" in f.read()


def _unit_settings(name):
    """KEY -> [values] of the uncommented lines of deploy/systemd/NAME."""
    settings = {}
    with open(os.path.join(DEPLOY, "systemd", name)) as f:
        for line in f:
            if "=" in line and not line.lstrip().startswith(("#", ";")):
                k, v = line.rstrip("\n").split("=", 1)
                settings.setdefault(k.strip(), []).append(v.strip())
    return settings


def test_systemd_units_run_gateway_and_writer_as_different_users():
    """Least privilege (issue 19): a compromised gateway must not read the writer's
    environment (PGPASSWORD, in writer.env and /proc/PID/environ): two users, each with its
    own primary group, sharing only the group hookpipe that reads the config; each unit
    loads only its own environment files."""
    gw = _unit_settings("hookpipe-gateway.service")
    wr = _unit_settings("hookpipe-writer@.service")
    assert gw["User"] == ["hookpipe-gateway"] and gw["Group"] == ["hookpipe-gateway"]
    assert wr["User"] == ["hookpipe-writer"] and wr["Group"] == ["hookpipe-writer"]
    assert gw["SupplementaryGroups"] == wr["SupplementaryGroups"] == ["hookpipe"]
    assert "DynamicUser" not in gw and "DynamicUser" not in wr
    gw_env, wr_env = set(gw.get("EnvironmentFile", [])), set(wr.get("EnvironmentFile", []))
    assert gw_env == {"-/etc/hookpipe/gateway.env"}, gw_env
    assert gw_env.isdisjoint(wr_env) and all("gateway" not in e for e in wr_env), wr_env
    with open(os.path.join(SOURCE_DIR, "debian", "hookpipe.postinst")) as f:
        postinst = f.read()
    # the package creates exactly those users, both in the group that may read the config
    assert "daemon_user hookpipe-gateway" in postinst and "daemon_user hookpipe-writer" in postinst
    assert 'adduser --quiet "$1" hookpipe' in postinst
    assert "addgroup --system --quiet hookpipe" in postinst


def test_systemd_security_exposure_is_low(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    for unit in _unit_copies(tmp_path):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
        if m is None:
            pytest.skip("this systemd-analyze has no offline security check")
        assert float(m.group(1)) <= 2.0, r.stdout


@pytest.mark.parametrize("script", ["run-local", "healthcheck", "build-deb"])
def test_scripts_pass_shellcheck(script):
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed")
    r = subprocess.run(["shellcheck", os.path.join(DEPLOY, script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout


class _Health(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()


def test_container_healthcheck_script():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    check = os.path.join(DEPLOY, "healthcheck")
    port = str(srv.server_address[1])
    try:
        assert subprocess.run([check, port], capture_output=True, timeout=10).returncode == 0
        r = subprocess.run([check, port, "/readyz"], capture_output=True, timeout=10)
        assert r.returncode == 1 and b"503" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = str(s.getsockname()[1])
    assert subprocess.run([check, closed], capture_output=True, timeout=10).returncode == 1


def _needed_packages(binary):
    """The Debian packages holding the shared libraries binary links directly."""
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    libs = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=30,
                           check=True).stdout
    pkgs = set()
    for lib in libs:
        m = re.search(r"^\s*%s \(libc6,x86-64[^)]*\) => (\S+)" % re.escape(lib), cache, re.M)
        assert m, "%s not in the linker cache" % lib
        path = os.path.realpath(m.group(1))
        r = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:  # usrmerge: dpkg may know it under /lib
            r = subprocess.run(["dpkg", "-S", path.replace("/usr/lib/", "/lib/", 1)],
                               capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, "no package owns %s" % path
        pkgs.add(r.stdout.split(":")[0])
    return pkgs


@pytest.mark.parametrize("daemon", ["hookpipe-gateway", "hookpipe-writer", "hookpipe-ctl"])
def test_dockerfile_runtime_has_every_linked_library(daemon):
    binary = os.path.join(BUILD_DIR, daemon)
    if not os.access(binary, os.X_OK):
        pytest.skip("%s not built" % binary)
    if shutil.which("readelf") is None or shutil.which("dpkg") is None:
        pytest.skip("needs readelf and dpkg")
    if harness.SANITIZED:
        pytest.skip("sanitizer build links libasan/libubsan, which no release image ships")
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        runtime = f.read().split("AS runtime", 1)[1].split("FROM ", 1)[0]
    listed = set(re.findall(r"[\w.+-]+", runtime))
    missing = sorted(_needed_packages(binary) - listed - {"libc6"})
    assert missing == [], "runtime stage lacks %s" % missing


# ---- the version in one place (VERSION) ------------------------------------------------------

VERSION_FILE = os.path.join(SOURCE_DIR, "VERSION")


def _version():
    with open(VERSION_FILE) as f:
        text = f.read()
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", text), "VERSION must be one line X.Y.Z: %r" % text
    return text.strip()


def _debian_changelog_version(debian_dir):
    with open(os.path.join(debian_dir, "changelog")) as f:
        m = re.match(r"hookpipe \(([^)]+)\)", f.readline())
    assert m, "debian/changelog does not start with a hookpipe entry"
    return m.group(1)


def test_the_version_is_defined_once_and_everything_agrees():
    """VERSION is the one place: CMake reads it (no literal version left in CMakeLists.txt),
    every binary's --version prints it, debian/changelog's newest entry (the .deb's version)
    is it, the Dockerfile labels the images with the build argument it checks against it,
    the newest release in CHANGELOG.md is it, and the package file name in README.md and
    docs/*.md (docs/deployment.md) says it."""
    version = _version()
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        cmake = f.read()
    assert re.search(r'file\(STRINGS "\$\{CMAKE_CURRENT_SOURCE_DIR\}/VERSION" (\w+)', cmake)
    project = re.search(r"^project\(hookpipe VERSION (\S+)", cmake, re.M).group(1)
    assert project.startswith("${"), "CMakeLists.txt sets the version itself: %s" % project
    for binary in ("hookpipe-gateway", "hookpipe-writer", "hookpipe-ctl"):
        path = os.path.join(BUILD_DIR, binary)
        assert os.access(path, os.X_OK), "%s not built" % path
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stdout == "%s %s\n" % (binary, version), (binary, r)
    assert _debian_changelog_version(os.path.join(SOURCE_DIR, "debian")) == version
    with open(os.path.join(DEPLOY, "Dockerfile")) as f:
        dockerfile = f.read()
    assert re.search(r"^ARG HOOKPIPE_VERSION=$", dockerfile, re.M)
    assert 'org.opencontainers.image.version="$HOOKPIPE_VERSION"' in dockerfile
    # the build stage refuses a HOOKPIPE_VERSION that is not VERSION's
    assert '"$HOOKPIPE_VERSION" != "$(cat /src/VERSION)"' in dockerfile
    with open(os.path.join(SOURCE_DIR, "CHANGELOG.md")) as f:
        releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d\d-\d\d$", f.read(), re.M)
    assert releases and releases[0] == version, releases
    named_in = []
    for doc in [os.path.join(SOURCE_DIR, "README.md")] + glob.glob(
            os.path.join(SOURCE_DIR, "docs", "*.md")):
        with open(doc) as f:
            for named in re.findall(r"hookpipe_(\d+\.\d+\.\d+)_", f.read()):
                assert named == version, (doc, named)
                named_in.append(doc)
    assert os.path.join(SOURCE_DIR, "docs", "deployment.md") in named_in, named_in


def _package_tree(tmp_path, version):
    """The files deploy/build-deb's version check reads, with VERSION set to version."""
    (tmp_path / "deploy").mkdir()
    shutil.copy(os.path.join(DEPLOY, "build-deb"), tmp_path / "deploy")
    shutil.copytree(os.path.join(SOURCE_DIR, "debian"), tmp_path / "debian")
    (tmp_path / "VERSION").write_text(version + "\n")
    return tmp_path


def test_a_debian_changelog_other_than_VERSION_stops_the_package_build(tmp_path):
    """dpkg takes the .deb's version from debian/changelog: debian/rules (so any
    dpkg-buildpackage) and deploy/build-deb refuse to build when it is not VERSION's."""
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("dpkg-dev not installed")
    packaged = _debian_changelog_version(os.path.join(SOURCE_DIR, "debian"))
    tree = _package_tree(tmp_path, packaged)
    r = subprocess.run(["make", "-s", "-f", "debian/rules", "check-version"], cwd=tree,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (tree / "VERSION").write_text("9.8.7\n")
    r = subprocess.run(["make", "-s", "-f", "debian/rules", "check-version"], cwd=tree,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "debian/changelog says %s, VERSION says 9.8.7" % packaged in r.stderr, r.stderr
    r = subprocess.run([str(tree / "deploy" / "build-deb")], cwd=tree, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "VERSION says 9.8.7" in r.stderr, r.stdout + r.stderr
    assert not (tree / "dist").exists()  # stopped before building anything


def _strip_code(text):
    """Markdown text without fenced code blocks and inline code spans (no links live there)."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _github_anchors(path):
    """The anchors GitHub gives the headings of a Markdown file: the heading text lower-cased,
    everything but letters, digits, '_', '-' and spaces dropped, spaces made '-'; a repeated
    anchor gets -1, -2, … ."""
    with open(path) as f:
        text = re.sub(r"^```.*?^```[^\n]*$", "", f.read(), flags=re.S | re.M)
    anchors, seen = set(), {}
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else "%s-%d" % (slug, n))
    return anchors


def test_every_relative_link_of_the_docs_resolves():
    """Each `[text](path)` and `[text](path#anchor)` of README.md and docs/*.md that is not a URL
    names a file of the tree, and its anchor is a heading of that file by GitHub's rule."""
    docs = [os.path.join(SOURCE_DIR, "README.md")] + sorted(
        glob.glob(os.path.join(SOURCE_DIR, "docs", "*.md")))
    broken, checked = [], 0
    for doc in docs:
        with open(doc) as f:
            text = _strip_code(f.read())
        for target in re.findall(r"\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # http:, https:, mailto:, file:
            checked += 1
            path, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            where = "%s: %s" % (os.path.relpath(doc, SOURCE_DIR), target)
            if not os.path.exists(full):
                broken.append(where + " (no such file)")
            elif anchor and (not full.endswith(".md") or anchor not in _github_anchors(full)):
                broken.append(where + " (no such heading)")
    assert checked > 20, checked
    assert broken == [], "\n".join(broken)

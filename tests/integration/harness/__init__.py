"""Integration-test harness: real redis-server and PostgreSQL 15 on loopback ports, hookpipe
daemons as subprocesses with generated configs (on port 0: they report the port they bound),
one Zoom signer, and small HTTP/metrics helpers.

    processes  paths, build options, the process registry and cleanup, start_process for
               any other program, /proc figures (cpu_seconds, proc_status_kb), ports, wait_for
    servers    RedisServer / PostgresServer (private) and the shared ones of tests/run
    daemons    Daemon, run_daemon, write_config, sanitizer-log checks, listener lines
    zoom       zoom_signature / zoom_headers / zoom_token / zoom_request_headers, fixtures
    http       http_request, post_hook, raw_request, metrics / metric, rows_inserted, tls_cert
    ha         Redis replicas and Sentinels, a pg_basebackup standby, PgBouncer

Every name tests use is re-exported here: `import harness; harness.X`. bench/ uses it too
(sys.path gets tests/integration): the same ports, signer, daemons and process starter.
"""

from .processes import (BUILD_DIR, IS_ROOT, SANITIZED, SOURCE_DIR, _children_of, _cleanups,
                        _die_with_parent, _kill_pid, _pg_user_kwargs, _pid_alive, _ports_given,
                        _register_cleanup, _unregister_cleanup, build_option, cleanup_all,
                        CLK_TCK, cpu_seconds, free_port, port_open, proc_status_kb, run_process,
                        sigstop, start_process, stop_process, tcp_sockets, TCP_ESTABLISHED,
                        TCP_LISTEN, unique_name, wait_for)
from .servers import (BIND_ATTEMPTS, PG_BIN, REDIS_SERVER, PostgresServer, RedisServer,
                      SharedPostgres, SharedRedis, _PostgresClient, shared_postgres,
                      shared_redis)
from .daemons import (LISTENING, SANITIZER_MARKERS, Daemon, _daemons, check_sanitizer_log,
                      daemon_count, daemon_path, daemons_since, run_daemon, write_config)
from .zoom import (FIXTURES, fixture_body, fixture_json, fixture_path, zoom_headers,
                   zoom_request_headers, zoom_signature, zoom_token)
from .http import (TLS_KEYS, http_request, metric, metrics, post_hook, raw_request,
                   rows_inserted, tls_cert)
from .ha import (MASTER_NAME, PgBouncer, PgStandby, RedisNode, Sentinel, make_synchronous,
                 pg_primary, redis_group, sentinel_list, wait_replicas_online)

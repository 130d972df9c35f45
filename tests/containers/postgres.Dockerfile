# A stand-in for the postgres:15 image (no registry here), built FROM the debootstrap base:
# the same interface docker-compose.yml uses: POSTGRES_USER/POSTGRES_DB/POSTGRES_PASSWORD,
# data in /var/lib/postgresql/data, pg_isready, TCP on 5432 with password authentication.
FROM debian:12-slim
COPY postgres-entrypoint /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]

# A stand-in for the redis:7 image (no registry here), built FROM the debootstrap base:
# `redis-server ARGS` as the container command, data in /data, reachable from the other
# containers (protected mode off, all addresses), redis-cli for the health check.
FROM debian:12-slim
RUN mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint /usr/local/bin/redis-entrypoint
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
CMD ["redis-server"]

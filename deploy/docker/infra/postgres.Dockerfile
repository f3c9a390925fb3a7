# PostgreSQL 16 from the binaries the local stack runs (the `pgserver` wheel), on the Debian
# base: used by the docker target when the official `postgres` image cannot be pulled. Same
# contract as the official image for what the harness uses (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, PGDATA; arguments starting with '-' are server options).
ARG BASE_IMAGE=altlas/base:bookworm
FROM ${BASE_IMAGE}
# The pgserver wheel's tree as it is installed (its binaries find libpq through an RPATH).
COPY pgserver/ /opt/pgserver/
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN groupadd --gid 999 postgres \
 && useradd --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 0755 /usr/local/bin/docker-entrypoint.sh
ENV PATH=/opt/pgserver/pgserver/pginstall/bin:${PATH} PGDATA=/var/lib/postgresql/data
USER postgres
EXPOSE 5432
# PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]

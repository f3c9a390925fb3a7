# OpenSearch from the jars the local stack runs (resolved from Maven Central into
# .harness/cache by `python -m harness.infra.opensearch`) on the Debian base with a JRE: used
# by the docker target when the official image cannot be pulled. One node, no security plugin,
# HTTP on 9200; OPENSEARCH_JAVA_OPTS is honoured as in the official image.
ARG BASE_IMAGE=altlas/base-jre:bookworm
FROM ${BASE_IMAGE}
COPY opensearch/ /usr/share/opensearch/
COPY config/ /usr/share/opensearch/config/
COPY opensearch-entrypoint.sh /usr/local/bin/opensearch-entrypoint.sh
RUN groupadd --gid 1000 opensearch \
 && useradd --uid 1000 --gid 1000 --home-dir /usr/share/opensearch --shell /bin/sh opensearch \
 && mkdir -p /usr/share/opensearch/data /usr/share/opensearch/logs /usr/share/opensearch/config/tmp \
 && chown -R opensearch:opensearch /usr/share/opensearch/data /usr/share/opensearch/logs \
      /usr/share/opensearch/config \
 && chmod 0755 /usr/local/bin/opensearch-entrypoint.sh
USER opensearch
WORKDIR /usr/share/opensearch
ENV OPENSEARCH_JAVA_OPTS="-Xms512m -Xmx512m"
EXPOSE 9200
ENTRYPOINT ["opensearch-entrypoint.sh"]

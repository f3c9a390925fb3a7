#!/bin/sh
# JVM options from the config (the local node's), then OPENSEARCH_JAVA_OPTS (later -Xmx wins).
set -eu
home=/usr/share/opensearch
# shellcheck disable=SC2086 # OPENSEARCH_JAVA_OPTS is a list of options
exec java "@$home/config/jvm.options" ${OPENSEARCH_JAVA_OPTS:-} -cp "$home/lib/*" \
  org.opensearch.bootstrap.OpenSearch "$@"

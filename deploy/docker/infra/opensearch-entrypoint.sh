#!/bin/sh
# JVM options from the config (the local node's), then OPENSEARCH_JAVA_OPTS (later -Xmx wins).
# Like the official image, every environment variable whose name is a setting (`cluster.name`,
# `discovery.seed_hosts`, …: lower case, with a dot) becomes `-E name=value`, which overrides
# the baked single-node opensearch.yml: the Kubernetes base forms a three-node cluster that way.
# Given seed hosts or initial cluster managers, discovery is the multi-node kind ("zen").
set -eu
home=/usr/share/opensearch
settings=$(mktemp)
# From the process's own environment block: sh (dash) drops names with dots from `env`.
tr '\000' '\n' < /proc/$$/environ | grep -E '^[a-z0-9_]+\.[a-z0-9_.]+=' > "$settings" || true
multi=no
while IFS= read -r line; do
  set -- "$@" -E "$line"
  case "$line" in discovery.seed_hosts=*|cluster.initial_cluster_manager_nodes=*) multi=yes ;; esac
done < "$settings"
if [ "$multi" = yes ] && ! grep -q '^discovery\.type=' "$settings"; then
  set -- "$@" -E discovery.type=zen
fi
rm -f "$settings"
# shellcheck disable=SC2086 # OPENSEARCH_JAVA_OPTS is a list of options
exec java "@$home/config/jvm.options" ${OPENSEARCH_JAVA_OPTS:-} -cp "$home/lib/*" \
  org.opensearch.bootstrap.OpenSearch "$@"

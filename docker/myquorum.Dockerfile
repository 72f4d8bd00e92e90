# myquorum itself. No Rust toolchain can be fetched inside a container on the machines this is
# tested on, so the image copies a binary built on the host (same Debian bookworm as the base
# image): scripts/docker-test.sh (or you) put it at docker/bin/myquorum before `docker build`.
# Configured by MYQUORUM_* environment variables (see docker-compose.yml) or a mounted file
# named by MYQUORUM_CONFIG.
FROM debian:bookworm-slim
COPY docker/bin/myquorum /usr/local/bin/myquorum
VOLUME /var/lib/myquorum
ENTRYPOINT ["/usr/local/bin/myquorum"]
CMD ["serve"]

# The dataplane service image: `dataplane serve` on the embedded default
# config (configs/default.yaml: the sample firewall replaying the bundled
# sample trace on a loop). gRPC (50051) and Prometheus metrics (9464) listen
# on the container's loopback only: the default has no authentication, and
# nothing unauthenticated listens beyond loopback (use the client inside:
# `docker exec CONTAINER dataplane --server 127.0.0.1:50051 hook list`).
#
#   docker build -t dataplane .
#   docker run --rm --name dp dataplane
#   docker exec dp dataplane top --server 127.0.0.1:50051 --count 3
#
# Your own config (mounted read-only; reloaded in place on SIGHUP:
# `docker kill -s HUP dp`, or with --watch-config when the file changes):
#
#   docker run --rm -v $PWD/my.yaml:/etc/dataplane/dataplane.yaml:ro dataplane \
#       serve --config /etc/dataplane/dataplane.yaml --watch-config 5
#
# Live mode (AF_XDP / AF_PACKET on the host's interfaces): the host's network
# and bpffs, and exactly these capabilities instead of --privileged (the set
# the Kubernetes DaemonSet adds; tests/test_deploy_caps.py measured it -- see
# README "Kubernetes"; SYS_ADMIN is not needed):
#
#   docker run --rm --network host --cap-drop ALL \
#       --cap-add NET_ADMIN --cap-add BPF --cap-add NET_RAW --cap-add IPC_LOCK \
#       -v /sys/fs/bpf:/sys/fs/bpf -v $PWD/live.yaml:/etc/dataplane/dataplane.yaml:ro dataplane \
#       serve --config /etc/dataplane/dataplane.yaml
#
#   NET_ADMIN     XDP attach over netlink, AF_XDP bind, interface state
#   BPF           load the XSK redirect / dispatcher programs and their maps
#   NET_RAW       AF_XDP and AF_PACKET sockets
#   IPC_LOCK      pin the UMEM beyond RLIMIT_MEMLOCK
#
# With --network host a loopback listener is the host's loopback; to serve
# other machines, configure authentication (see the README's hardening
# section) and listen on the address they reach.
#
# No Docker engine runs where this project is built, so the image builds with
# exactly the scripted steps `make build`, `make test` and CI run
# (scripts/bootstrap.sh); tests/test_service_dockerfile.py checks that.

ARG BASE=debian:12

# ---- builder: toolchain, .venv, Cython extensions, gRPC stubs -------------
FROM ${BASE} AS builder
WORKDIR /opt/dataplane
COPY . .
RUN ./scripts/bootstrap.sh
# Fail the image build, not the first start, if the default config is broken.
RUN .venv/bin/dataplane serve --config configs/default.yaml --check

# ---- runtime: Python, and cc for the JIT (it compiles programs to .so) ----
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/dataplane
COPY --from=builder /opt/dataplane /opt/dataplane
ENV PATH=/opt/dataplane/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1
EXPOSE 50051 9464
ENTRYPOINT ["dataplane"]
CMD ["serve", "--config", "configs/default.yaml"]

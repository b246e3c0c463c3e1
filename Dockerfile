# The dataplane service image: `dataplane serve` on the embedded default
# config (configs/default.yaml: the sample firewall replaying the bundled
# sample trace on a loop), gRPC on :50051 and Prometheus metrics on :9464.
#
#   docker build -t dataplane .
#   docker run --rm -p 50051:50051 -p 9464:9464 dataplane
#   docker run --rm -v $PWD/my.yaml:/etc/dataplane.yaml -p 50051:50051 dataplane \
#       serve --config /etc/dataplane.yaml --grpc 0.0.0.0:50051 --metrics 0.0.0.0:9464
#
# Capabilities: pcap replay and the control plane need none.  Attaching to
# real interfaces with AF_XDP (a later issue) will need
#   --cap-add NET_ADMIN   (bind AF_XDP sockets, set up XDP redirect on the NIC)
#   --cap-add BPF         (load the kernel-side XSK redirect program and maps)
#   --cap-add IPC_LOCK    (pin the UMEM; or --ulimit memlock=-1)
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
CMD ["serve", "--config", "configs/default.yaml", "--grpc", "0.0.0.0:50051", "--metrics", "0.0.0.0:9464"]

# syntax=docker/dockerfile:1
#
# The Fidelis image: the static fidelis binary, Debian's CA bundle and
# /data, nothing else (no shell, no libc); it runs as 65532:65532 and works
# with a read-only root filesystem.
#
#   docker build -t fidelis \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" .
#
# Without Docker, `go run ./deploy/image -o fidelis.tar` builds the same
# layout and config as a tarball (CI does, and checks it); keep the two in
# step.

ARG VERSION=dev
ARG COMMIT=unknown

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION
ARG COMMIT
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /rootfs/usr/local/bin/fidelis ./cmd/fidelis \
 && mkdir -p /rootfs/etc/ssl/certs /data \
 && install -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt

FROM scratch
ARG VERSION
ARG COMMIT
COPY --from=build /rootfs/ /
# The working directory, and the only directory the user owns: the default
# --db (sqlite:fidelis.db) lands here; mount a volume on it to keep it.
COPY --from=build --chown=65532:65532 /data /data
LABEL org.opencontainers.image.title="fidelis" \
      org.opencontainers.image.description="Fidelis loyalty-points ledger (gRPC)" \
      org.opencontainers.image.source="https://github.com/fidelis-loyalty/fidelis" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 65532:65532
WORKDIR /data
# gRPC, HTTP (web page, JSON API), operations (health)
EXPOSE 8443 8080 8081
ENTRYPOINT ["/usr/local/bin/fidelis"]
CMD ["serve"]

# jwtgate's container image: the gateway program, a static binary, alone.
#
#   docker build -t jwtgate .
#   docker run --rm -p 8080:8080 -v "$PWD/jwtgate.yaml:/etc/jwtgate/jwtgate.yaml:ro" jwtgate
#
# The final image holds the binary only: no shell, no package manager, no
# writable path it needs; it runs as an unprivileged user. Probes:
# GET /healthz (alive) and GET /readyz (keys loaded).
#
# BINARY_FROM=prebuilt takes ./jwtgate from the build context instead of
# compiling (what internal/image's test does: no registry is needed then).
ARG BINARY_FROM=build

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jwtgate ./cmd/jwtgate

FROM scratch AS prebuilt
COPY jwtgate /out/jwtgate

FROM ${BINARY_FROM} AS binary

FROM scratch
LABEL org.opencontainers.image.title="jwtgate" \
      org.opencontainers.image.description="JWT verification gateway: verifies tokens against an identity provider's JWK Set" \
      org.opencontainers.image.source="https://github.com/jwtgate/jwtgate" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=binary /out/jwtgate /jwtgate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/jwtgate"]
CMD ["-listen", ":8080", "-config", "/etc/jwtgate/jwtgate.yaml"]

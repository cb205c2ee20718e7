# Builds every Surge binary from the repository root (the Go workspace):
#   docker build -t surge .
# The image holds /usr/local/bin/surge (CLI: dev, registry, tap, load) and
# one binary per service (surge-ingest, ...).
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/surge ./cmd/surge \
 && CGO_ENABLED=0 go build -trimpath -o /out/surge-ingest ./services/ingest/cmd/ingest \
 && CGO_ENABLED=0 go build -trimpath -o /out/surge-enrich ./services/enrich/cmd/enrich \
 && CGO_ENABLED=0 go build -trimpath -o /out/surge-fanout ./services/fanout/cmd/fanout \
 && CGO_ENABLED=0 go build -trimpath -o /out/surge-dispatcher ./services/dispatcher/cmd/dispatcher

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot
ENTRYPOINT ["/usr/local/bin/surge"]

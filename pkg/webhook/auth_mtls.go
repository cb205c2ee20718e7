package webhook

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/surgehq/surge/pkg/event"
)

// newMTLSClient is a client of its own (its own connection pool, the same
// SSRF-guarded dialer) that presents m's client certificate and, when m
// has a CA bundle, trusts only those CAs for the endpoint.
func newMTLSClient(cfg Config, m *event.MutualTLS, allowPrivate bool) (*http.Client, error) {
	cert, err := tls.X509KeyPair([]byte(m.ClientCertPEM), []byte(m.ClientKeyPEM))
	if err != nil {
		return nil, fmt.Errorf("loading the subscription's mTLS client certificate: %w", err)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if m.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(m.CAPEM)) {
			return nil, errors.New("loading the subscription's mTLS CA bundle: no certificate in ca_pem")
		}
		tc.RootCAs = pool
	}
	return newClientTLS(cfg, allowPrivate, tc), nil
}

// tlsFailure reports whether err is a failed TLS handshake: an alert from
// the endpoint (such as "certificate required" when it wants a client
// certificate) or a server certificate that does not verify.
func tlsFailure(err error) bool {
	var (
		alert  tls.AlertError
		verify *tls.CertificateVerificationError
		header tls.RecordHeaderError
		unk    x509.UnknownAuthorityError
		host   x509.HostnameError
	)
	// crypto/tls returns the peer's alerts as a *net.OpError with the Op
	// "remote error" around an unexported alert type.
	var op *net.OpError
	return errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &header) ||
		errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &op) && op.Op == "remote error"
}

package middleware_test

import (
	"crypto/tls"
	"crypto/x509"
)

func tlsWithPeer(der []byte) *tls.ConnectionState {
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: der}}}
}

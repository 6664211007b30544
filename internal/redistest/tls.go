package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are a throw-away certificate authority and the certificates it
// signed, as PEM files in a test's temporary directory: one for the
// servers (valid for 127.0.0.1 and localhost, and as a client, since a
// replica or a sentinel shows it to the server it connects to) and one for
// clients.
type TLSFiles struct {
	// CAFile is the authority's certificate.
	CAFile string
	// CertFile and KeyFile are the servers' certificate and key.
	CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate and key.
	ClientCertFile, ClientKeyFile string
	// Client is a client configuration that trusts CAFile and shows the
	// client certificate: what the test's own clients use.
	Client *tls.Config

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	dir    string
	serial int64 // the last certificate's
}

// NewTLSFiles makes a certificate authority and two certificates signed by
// it (crypto/x509, ECDSA P-256, valid for an hour), written to tb.TempDir().
func NewTLSFiles(tb testing.TB) *TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	now := time.Now()
	caKey := newKey(tb)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatalf("redistest: CA: %v", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage []x509.ExtKeyUsage, server bool) ([]byte, *ecdsa.PrivateKey) {
		k := newKey(tb)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			tb.Fatalf("redistest: certificate %s: %v", cn, err)
		}
		return der, k
	}
	srvDER, srvKey := leaf(2, "redistest server", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, true)
	cliDER, cliKey := leaf(3, "redistest client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, false)
	f := &TLSFiles{
		ca: ca, caKey: caKey, dir: dir, serial: 3,
		CAFile:         writePEM(tb, dir, "ca.pem", "CERTIFICATE", caDER),
		CertFile:       writePEM(tb, dir, "server.pem", "CERTIFICATE", srvDER),
		KeyFile:        writePEM(tb, dir, "server-key.pem", "PRIVATE KEY", pkcs8(tb, srvKey)),
		ClientCertFile: writePEM(tb, dir, "client.pem", "CERTIFICATE", cliDER),
		ClientKeyFile:  writePEM(tb, dir, "client-key.pem", "PRIVATE KEY", pkcs8(tb, cliKey)),
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	f.Client = &tls.Config{
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}},
	}
	return f
}

// NewClientCert makes another client certificate signed by the same
// authority, as a rotation would issue, and returns its PEM certificate
// and key files (new files; copy them over the old ones to rotate in
// place) and its DER certificate.
func (f *TLSFiles) NewClientCert(tb testing.TB) (certFile, keyFile string, der []byte) {
	tb.Helper()
	f.serial++
	k := newKey(tb)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(f.serial), Subject: pkix.Name{CommonName: fmt.Sprintf("redistest client %d", f.serial)},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, &k.PublicKey, f.caKey)
	if err != nil {
		tb.Fatalf("redistest: client certificate: %v", err)
	}
	certFile = writePEM(tb, f.dir, fmt.Sprintf("client-%d.pem", f.serial), "CERTIFICATE", der)
	keyFile = writePEM(tb, f.dir, fmt.Sprintf("client-%d-key.pem", f.serial), "PRIVATE KEY", pkcs8(tb, k))
	return certFile, keyFile, der
}

// serverArgs are redis-server's TLS settings: TLS only on port, the
// client's certificate required, and TLS for replication and the
// cluster bus as well.
func (f *TLSFiles) serverArgs(port string) []string {
	return []string{
		"--port", "0", "--tls-port", port,
		"--tls-cert-file", f.CertFile, "--tls-key-file", f.KeyFile, "--tls-ca-cert-file", f.CAFile,
		"--tls-auth-clients", "yes", "--tls-replication", "yes", "--tls-cluster", "yes",
	}
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("redistest: key: %v", err)
	}
	return k
}

func pkcs8(tb testing.TB, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		tb.Fatalf("redistest: key: %v", err)
	}
	return der
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return p
}

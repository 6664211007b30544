package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// tlsRecheck is how often, at most, a handshake checks the TLS files
// again: a burst of handshakes does not stat the disk for each one.
const tlsRecheck = time.Second

// maxPEMBytes bounds each TLS file; a certificate chain or a CA bundle is
// a few KiB, the system's whole CA bundle about 200 KiB.
const maxPEMBytes = 1 << 20

// tlsCipherSuites are the TLS 1.2 suites the listener accepts: ECDHE
// (forward secrecy) with an AEAD, the "intermediate" set of Mozilla's
// server-side TLS guidelines. Go's default list also has CBC-mode suites
// with SHA-1 MACs, which HTTP/2 forbids anyway (RFC 9113 §9.2.2). TLS 1.3's
// suites are not configurable, and all are AEAD.
func tlsCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// tlsNextProtos is what ALPN offers: HTTP/2 first.
func tlsNextProtos() []string { return []string{"h2", "http/1.1"} }

// clientAuthType maps TLSConfig.ClientAuth ("" is none) to crypto/tls's
// policy; ok is false for a name it does not know. request verifies a
// certificate that is sent: an unverified one would let anyone present a
// certificate of their own making.
func clientAuthType(s string) (tls.ClientAuthType, bool) {
	switch s {
	case "", ClientAuthNone:
		return tls.NoClientCert, true
	case ClientAuthRequest:
		return tls.VerifyClientCertIfGiven, true
	case ClientAuthRequire:
		return tls.RequireAndVerifyClientCert, true
	}
	return tls.NoClientCert, false
}

// readPEMFile reads a TLS file of at most maxPEMBytes.
func readPEMFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPEMBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxPEMBytes)
	}
	return b, nil
}

// loadKeyPair reads and parses the certificate chain and its private key,
// with an error that says which file is wrong and how.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := readPEMFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("cert_file %q: %w", certFile, err)
	}
	if _, err := parseCertificates(certPEM); err != nil {
		return nil, fmt.Errorf("cert_file %q: %w", certFile, err)
	}
	keyPEM, err := readPEMFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key_file %q: %w", keyFile, err)
	}
	if !hasPrivateKeyBlock(keyPEM) {
		return nil, fmt.Errorf("key_file %q: no PEM private key (want a -----BEGIN PRIVATE KEY----- block, or an RSA or EC one)", keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("key_file %q with cert_file %q: %s", keyFile, certFile, strings.TrimPrefix(err.Error(), "tls: "))
	}
	return &cert, nil
}

// loadCAPool reads a PEM bundle of CA certificates.
func loadCAPool(name string) (*x509.CertPool, error) {
	b, err := readPEMFile(name)
	if err != nil {
		return nil, fmt.Errorf("client_ca_file %q: %w", name, err)
	}
	certs, err := parseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("client_ca_file %q: %w", name, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// parseCertificates parses every CERTIFICATE block of b: at least one,
// each one valid (x509.CertPool.AppendCertsFromPEM would skip a bad one
// without a word).
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate (want -----BEGIN CERTIFICATE----- blocks)")
	}
	return certs, nil
}

// hasPrivateKeyBlock reports whether b holds a PEM private key block.
func hasPrivateKeyBlock(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return true
		}
	}
}

// tlsFiles serves the listener's TLS settings from the files of a
// TLSConfig, reading them again when they change (see TLSConfig). Every
// handshake reads one immutable *tls.Config snapshot (GetConfigForClient);
// a reload builds a new one and swaps it whole. Safe for concurrent use.
type tlsFiles struct {
	certFile, keyFile, caFile string
	clientAuth                tls.ClientAuthType
	now                       func() time.Time
	log                       *slog.Logger
	reloads                   *prometheus.CounterVec // by file (certificate, client_ca) and result (ok, error)

	cur      atomic.Pointer[tls.Config] // what handshakes use
	next     atomic.Int64               // unix nanoseconds: no check of the files before
	checking atomic.Bool                // a handshake is checking the files; the others go on with cur

	// Owned by the handshake that set checking, so no lock is held while
	// it reads the disk:
	pair, ca tlsPart
}

// tlsPart is one thing tlsFiles loads (the key pair, or the CA bundle):
// what its files looked like when it was last loaded, or tried.
type tlsPart struct {
	stamps  []os.FileInfo // one per file; nil: never looked at
	lastErr string        // the last failure logged, so a file that stays bad is logged once
}

// newTLSFiles loads the files of c (Validate has checked them; they may
// have changed since) and registers the reload counter on reg.
func newTLSFiles(c TLSConfig, now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (*tlsFiles, error) {
	auth, ok := clientAuthType(c.ClientAuth)
	if !ok {
		return nil, fmt.Errorf("tls: client_auth %q: want none, request or require", c.ClientAuth)
	}
	if now == nil {
		now = time.Now
	}
	t := &tlsFiles{certFile: c.CertFile, keyFile: c.KeyFile, caFile: c.ClientCAFile, clientAuth: auth, now: now, log: log}
	t.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "jwtgate", Subsystem: "gateway", Name: "tls_reloads_total",
		Help: "Loads of changed TLS files (the listener's certificate and key, the client CA bundle), by result: ok, or error (the last good one stays in use).",
	}, []string{"file", "result"})
	if err := reg.Register(t.reloads); err != nil {
		return nil, err
	}
	cert, pool, err := t.load()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	t.cur.Store(t.snapshot(cert, pool))
	t.next.Store(now().Add(tlsRecheck).UnixNano())
	return t, nil
}

// load reads every file once, at start.
func (t *tlsFiles) load() (*tls.Certificate, *x509.CertPool, error) {
	t.pair.stamps = statAll(t.certFile, t.keyFile)
	cert, err := loadKeyPair(t.certFile, t.keyFile)
	if err != nil {
		return nil, nil, err
	}
	t.warnExpiry(cert)
	if t.caFile == "" {
		return cert, nil, nil
	}
	t.ca.stamps = statAll(t.caFile)
	pool, err := loadCAPool(t.caFile)
	return cert, pool, err
}

// config is the listener's tls.Config: every handshake gets the current
// snapshot through GetConfigForClient, after a check of the files when
// one is due.
func (t *tlsFiles) config() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites(),
		NextProtos:   tlsNextProtos(),
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			t.maybeReload()
			return t.cur.Load(), nil
		},
	}
}

// snapshot is the tls.Config of one certificate and CA pool.
func (t *tlsFiles) snapshot(cert *tls.Certificate, pool *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		CipherSuites: tlsCipherSuites(),
		NextProtos:   tlsNextProtos(),
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   t.clientAuth,
		ClientCAs:    pool,
	}
}

// maybeReload checks the files when a check is due and no other handshake
// is checking them, and swaps in a snapshot of whatever changed and loads.
// The handshakes that find a check under way do not wait for it.
func (t *tlsFiles) maybeReload() {
	now := t.now()
	if now.UnixNano() < t.next.Load() || !t.checking.CompareAndSwap(false, true) {
		return
	}
	defer t.checking.Store(false)
	t.next.Store(now.Add(tlsRecheck).UnixNano())

	cur := t.cur.Load()
	cert, pool := &cur.Certificates[0], cur.ClientCAs
	c, certChanged := reloadPart(t, &t.pair, "certificate", []string{t.certFile, t.keyFile}, func() (*tls.Certificate, error) {
		return loadKeyPair(t.certFile, t.keyFile)
	})
	if certChanged {
		cert = c
		t.warnExpiry(cert)
	}
	caChanged := false
	if t.caFile != "" {
		var p *x509.CertPool
		if p, caChanged = reloadPart(t, &t.ca, "client_ca", []string{t.caFile}, func() (*x509.CertPool, error) {
			return loadCAPool(t.caFile)
		}); caChanged {
			pool = p
		}
	}
	if certChanged || caChanged {
		t.cur.Store(t.snapshot(cert, pool))
	}
}

// reloadPart loads part again when its files changed since the last
// attempt, and reports whether that gave a new value. A failure is logged
// (once for as long as it stays the same) and counted; the caller keeps
// the last good value.
func reloadPart[T any](t *tlsFiles, part *tlsPart, name string, files []string, load func() (T, error)) (T, bool) {
	var zero T
	stamps := statAll(files...)
	if !changedFiles(part.stamps, stamps) {
		return zero, false
	}
	part.stamps = stamps
	v, err := load()
	if err != nil {
		t.reloads.WithLabelValues(name, "error").Inc()
		if msg := err.Error(); msg != part.lastErr {
			part.lastErr = msg
			t.log.Error("gateway: tls: changed file does not load; keeping the last good one", "file", name, "err", "tls: "+msg)
		}
		return zero, false
	}
	part.lastErr = ""
	t.reloads.WithLabelValues(name, "ok").Inc()
	t.log.Info("gateway: tls: reloaded", "file", name, "from", strings.Join(files, ", "))
	return v, true
}

// warnExpiry logs a certificate that is expired or not yet valid: clients
// will refuse it, but the files may be renewed any moment, so it is no
// reason to stop.
func (t *tlsFiles) warnExpiry(cert *tls.Certificate) {
	leaf := cert.Leaf
	if leaf == nil {
		return
	}
	if now := t.now(); now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		t.log.Warn("gateway: tls: the certificate is not valid now; clients will refuse it", "cert_file", t.certFile,
			"not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	}
}

// statAll stats each file; an entry is nil where the file cannot be
// stat'ed.
func statAll(files ...string) []os.FileInfo {
	out := make([]os.FileInfo, len(files))
	for i, f := range files {
		out[i], _ = os.Stat(f) // a missing file is a change to try, and fail, once
	}
	return out
}

// changedFiles reports whether any file differs between two statAll
// results: another file (a rename over it, a swapped symbolic link),
// another size or another modification time; a file that could not be
// stat'ed, now or then, counts as changed unless it still cannot be.
func changedFiles(old, cur []os.FileInfo) bool {
	if len(old) != len(cur) {
		return true
	}
	for i := range cur {
		o, c := old[i], cur[i]
		switch {
		case o == nil && c == nil:
			continue
		case o == nil || c == nil:
			return true
		case !os.SameFile(o, c) || o.Size() != c.Size() || !o.ModTime().Equal(c.ModTime()):
			return true
		}
	}
	return false
}

// newTLS loads the listener's TLS files when Config.TLS is set: the files
// may have changed since Validate read them.
func (g *Gateway) newTLS(cfg Config, now func() time.Time) error {
	if cfg.TLS == nil {
		return nil
	}
	t, err := newTLSFiles(*cfg.TLS, now, g.log, g.registry)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	g.tls = t
	return nil
}

// TLSConfig returns the listener's TLS settings when Config.TLS is set
// (nil otherwise): the certificate, client-certificate policy and HTTP/2
// offer Serve uses, re-read from the files as they change. For a server of
// one's own around Handler: http.Server{TLSConfig: g.TLSConfig()} with
// ServeTLS(ln, "", ""), or tls.NewListener.
func (g *Gateway) TLSConfig() *tls.Config {
	if g.tls == nil {
		return nil
	}
	return g.tls.config()
}

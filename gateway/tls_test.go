package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/gwtest"
	"github.com/jwtgate/jwtgate/jwtgatetest"
)

// testCA is a certificate authority of the test's own.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// issued is a certificate with its key, as PEM files hold them and as a
// TLS client presents them.
type issued struct {
	der             []byte
	certPEM, keyPEM []byte
	tls             tls.Certificate
}

func newTestCA(t testing.TB, name string) *testCA {
	t.Helper()
	key := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func newECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// server issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) server(t testing.TB, serial int64) *issued {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
}

// client issues a client certificate.
func (ca *testCA) client(t testing.TB, serial int64, name string) *issued {
	t.Helper()
	return ca.issue(t, &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *testCA) issue(t testing.TB, tmpl *x509.Certificate) *issued {
	t.Helper()
	key := newECKey(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issued{
		der:     der,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if is.tls, err = tls.X509KeyPair(is.certPEM, is.keyPEM); err != nil {
		t.Fatal(err)
	}
	return is
}

// tlsDir is a directory with the gateway's TLS files.
type tlsDir struct {
	dir              string
	cert, key, ca    string // paths
	ca1              *testCA
	serverCert       *issued
	clientA, clientB *issued // two clients of ca1
}

// newTLSDir writes server.crt and server.key (serial 1, from ca1) and
// client-ca.crt (ca1) into a new directory.
func newTLSDir(t *testing.T) *tlsDir {
	t.Helper()
	d := &tlsDir{dir: t.TempDir(), ca1: newTestCA(t, "test CA 1")}
	d.cert, d.key, d.ca = filepath.Join(d.dir, "server.crt"), filepath.Join(d.dir, "server.key"), filepath.Join(d.dir, "client-ca.crt")
	d.serverCert = d.ca1.server(t, 1)
	d.clientA, d.clientB = d.ca1.client(t, 10, "client A"), d.ca1.client(t, 11, "client B")
	replaceFile(t, d.cert, d.serverCert.certPEM)
	replaceFile(t, d.key, d.serverCert.keyPEM)
	replaceFile(t, d.ca, d.ca1.pem)
	return d
}

// replaceFile replaces name's contents the way certificate tools do: a
// new file renamed over the old one.
func replaceFile(t *testing.T, name string, b []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// tlsClient is a client trusting ca, presenting cert (nil: none), offering
// HTTP/2 or HTTP/1.1 only. Each has connections of its own: a new client
// makes a new TLS handshake. dials counts its connections.
type tlsClient struct {
	*http.Client
	dials atomic.Int64
}

func newTLSClient(t *testing.T, ca *testCA, cert *issued, h2 bool) *tlsClient {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{cert.tls}
	}
	c := &tlsClient{}
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: h2, // a TLSClientConfig of one's own turns HTTP/2 off otherwise
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	c.Client = &http.Client{Transport: tr}
	return c
}

// get sends a GET with the token (none: "") and returns the response with
// its body read, or the error (a refused handshake).
func (c *tlsClient) get(url, token string) (*http.Response, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// mustGet is get that fails the test on an error.
func (c *tlsClient) mustGet(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	resp, body, err := c.get(url, token)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, body
}

// serverSerial is the serial of the certificate the gateway presented.
func serverSerial(t *testing.T, resp *http.Response) int64 {
	t.Helper()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("no TLS connection state")
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

func tlsGatewayConfig(idp, up string, tc *TLSConfig) Config {
	return Config{Listen: "127.0.0.1:0", Issuer: idp, TLS: tc, Routes: []Route{{Prefix: "/", Upstream: up}}}
}

// The listener speaks TLS 1.2 or 1.3 with HTTP/2 to clients that offer it
// and HTTP/1.1 to the others; the upstream learns the request came over
// https.
func TestTLSServesHTTP2AndHTTP1(t *testing.T) {
	idp, up, d := gwtest.StartIDP(t, false), gwtest.StartUpstream(t), newTLSDir(t)
	g := startGatewayOpts(t, tlsGatewayConfig(idp.Issuer(), up.URL, &TLSConfig{CertFile: d.cert, KeyFile: d.key}), Options{})
	g.waitReady(t)
	if !strings.HasPrefix(g.url, "https://") {
		t.Fatalf("url %s", g.url)
	}
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice"})
	for _, c := range []struct {
		h2    bool
		proto string
	}{{true, "HTTP/2.0"}, {false, "HTTP/1.1"}} {
		resp, body := newTLSClient(t, d.ca1, nil, c.h2).mustGet(t, g.url+"/items", tok)
		if resp.StatusCode != http.StatusOK || resp.Proto != c.proto {
			t.Fatalf("h2 %v: %s %d: %s", c.h2, resp.Proto, resp.StatusCode, body)
		}
		if v := resp.TLS.Version; v != tls.VersionTLS13 {
			t.Errorf("h2 %v: TLS version %x, want 1.3 (both ends offer it)", c.h2, v)
		}
		var echoed struct{ Headers http.Header }
		if err := json.Unmarshal([]byte(body), &echoed); err != nil {
			t.Fatal(err)
		}
		if p := echoed.Headers.Get("X-Forwarded-Proto"); p != "https" {
			t.Errorf("h2 %v: upstream got X-Forwarded-Proto %q, want https", c.h2, p)
		}
	}
}

// What the listener refuses: TLS below 1.2, TLS 1.2 with only CBC-mode
// suites, and plain HTTP (which gets Go's 400).
func TestTLSRefusesWeakClients(t *testing.T) {
	d := newTLSDir(t)
	g := startGatewayOpts(t, tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9", &TLSConfig{CertFile: d.cert, KeyFile: d.key}), Options{})
	addr := strings.TrimPrefix(g.url, "https://")
	pool := x509.NewCertPool()
	pool.AddCert(d.ca1.cert)
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.1": {RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
		"TLS 1.2 with CBC suites only": {RootCAs: pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
		}},
	} {
		conn, err := tls.Dial("tcp", addr, cfg)
		if err == nil {
			conn.Close()
			t.Errorf("%s: handshake succeeded", name)
		}
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 with the default suites: %v", err)
	}
	conn.Close()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP: %d, want 400", resp.StatusCode)
	}
}

// client_auth require: no certificate, or one from another CA, and the
// handshake fails; one from client_ca_file's CA passes.
func TestTLSClientAuthRequire(t *testing.T) {
	d := newTLSDir(t)
	g := startGatewayOpts(t, tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9",
		&TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequire}), Options{})
	stranger := newTestCA(t, "another CA").client(t, 20, "stranger")
	for name, cert := range map[string]*issued{"no certificate": nil, "another CA's certificate": stranger} {
		for _, h2 := range []bool{true, false} {
			if resp, _, err := newTLSClient(t, d.ca1, cert, h2).get(g.url+"/healthz", ""); err == nil {
				t.Errorf("%s (h2 %v): %d, want a failed handshake", name, h2, resp.StatusCode)
			}
		}
	}
	resp, body := newTLSClient(t, d.ca1, d.clientA, true).mustGet(t, g.url+"/healthz", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with a certificate of the CA: %d %s", resp.StatusCode, body)
	}
}

// RFC 8705 against the gateway itself: a token bound to client A's
// certificate passes with it, not with client B's (as valid, same CA) nor
// with none; under client_auth request a client without a certificate
// still gets in with an unbound token.
func TestTLSCertificateBoundTokens(t *testing.T) {
	idp, up, d := gwtest.StartIDP(t, false), gwtest.StartUpstream(t), newTLSDir(t)
	cfg := tlsGatewayConfig(idp.Issuer(), up.URL, &TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequest})
	cfg.CertificateBoundTokens = true
	cfg.TrustedProxies = []string{} // the TLS connection is the only source of a client certificate
	g := startGatewayOpts(t, cfg, Options{})
	g.waitReady(t)
	bound := idp.Mint(t, jwtgatetest.Claims{Subject: "a", Extra: map[string]any{"cnf": map[string]any{"x5t#S256": jwtgatetest.CertThumbprint(d.clientA.der)}}})
	bearer := idp.Mint(t, jwtgatetest.Claims{Subject: "anyone"})
	for _, c := range []struct {
		name   string
		cert   *issued
		token  string
		status int
		desc   string
	}{
		{"bound token, its certificate", d.clientA, bound, http.StatusOK, ""},
		{"bound token, another valid certificate", d.clientB, bound, http.StatusUnauthorized, "client certificate does not match"},
		{"bound token, no certificate", nil, bound, http.StatusUnauthorized, "no client certificate was presented"},
		{"bearer token, no certificate", nil, bearer, http.StatusOK, ""},
	} {
		for _, h2 := range []bool{true, false} {
			resp, body := newTLSClient(t, d.ca1, c.cert, h2).mustGet(t, g.url+"/items", c.token)
			if resp.StatusCode != c.status || !strings.Contains(body, c.desc) {
				t.Errorf("%s (h2 %v): %d %s, want %d %q", c.name, h2, resp.StatusCode, body, c.status, c.desc)
			}
			if c.status == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("%s: WWW-Authenticate %q", c.name, resp.Header.Get("WWW-Authenticate"))
			}
		}
	}
}

// rotationGateway is a TLS gateway on an injected clock, its log lines
// kept.
type rotationGateway struct {
	*gw
	d     *tlsDir
	clock *jwtgatetest.Clock
	logs  *gwtest.SyncBuffer
}

func startRotationGateway(t *testing.T, idp *jwtgatetest.Issuer, up *gwtest.Upstream) *rotationGateway {
	t.Helper()
	r := &rotationGateway{d: newTLSDir(t), clock: jwtgatetest.NewClock(time.Now()), logs: &gwtest.SyncBuffer{}}
	r.gw = startGatewayOpts(t, tlsGatewayConfig(idp.Issuer(), up.URL, &TLSConfig{CertFile: r.d.cert, KeyFile: r.d.key}),
		Options{Now: r.clock.Now, Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	r.waitReady(t)
	return r
}

// newConnSerial is the serial of the certificate a new connection gets.
func (r *rotationGateway) newConnSerial(t *testing.T) int64 {
	t.Helper()
	resp, body := newTLSClient(t, r.d.ca1, nil, true).mustGet(t, r.url+"/healthz", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("new connection: %d %s", resp.StatusCode, body)
	}
	return serverSerial(t, resp)
}

// renew writes a new certificate and key (serial) over the files.
func (r *rotationGateway) renew(t *testing.T, serial int64) {
	t.Helper()
	c := r.d.ca1.server(t, serial)
	replaceFile(t, r.d.cert, c.certPEM)
	replaceFile(t, r.d.key, c.keyPEM)
}

// A certificate renewed on disk while connections are open: the open
// connection (and a stream on it) carries on with the old one, a new
// connection gets the new one once the files are checked again (at most
// once a second: before that, still the old one), with no restart.
func TestTLSCertificateRotation(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	r := startRotationGateway(t, idp, up)
	tok := idp.Mint(t, jwtgatetest.Claims{Subject: "alice"})

	open := newTLSClient(t, r.d.ca1, nil, true)
	resp, _ := open.mustGet(t, r.url+"/healthz", "")
	if s := serverSerial(t, resp); s != 1 || resp.Proto != "HTTP/2.0" {
		t.Fatalf("first connection: serial %d, %s", s, resp.Proto)
	}
	// A stream open across the rotation, on the same connection.
	req, _ := http.NewRequest(http.MethodGet, r.url+"/sse", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	stream, err := open.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	events := bufio.NewReader(stream.Body)
	if line, err := events.ReadString('\n'); err != nil || line != "data: first\n" {
		t.Fatalf("stream: %q %v", line, err)
	}

	r.renew(t, 2)
	if s := r.newConnSerial(t); s != 1 {
		t.Fatalf("within a second of the last check: serial %d, want still 1", s)
	}
	r.clock.Advance(2 * time.Second)
	if s := r.newConnSerial(t); s != 2 {
		t.Fatalf("new connection after the renewal: serial %d, want 2", s)
	}
	resp, _ = open.mustGet(t, r.url+"/healthz", "")
	if s := serverSerial(t, resp); s != 1 || resp.StatusCode != http.StatusOK || open.dials.Load() != 1 {
		t.Fatalf("open connection: serial %d, status %d, %d dials (want 1, 200, 1)", s, resp.StatusCode, open.dials.Load())
	}
	up.Release <- struct{}{}
	if rest, err := io.ReadAll(events); err != nil || !strings.Contains(string(rest), "data: second") {
		t.Fatalf("stream after the renewal: %q %v", rest, err)
	}
	if ok := counter(t, r.Registry(), "jwtgate_gateway_tls_reloads_total", "file", "certificate", "result", "ok"); ok != 1 {
		t.Errorf("reloads ok %v, want 1", ok)
	}
}

// A renewal whose certificate is not the key file's (the key not yet
// written): the last good pair stays, the failure is logged once however
// often the files are checked, and counted; once the key follows, the new
// pair is served.
func TestTLSBadRenewalKeepsTheLastGood(t *testing.T) {
	r := startRotationGateway(t, gwtest.StartIDP(t, false), gwtest.StartUpstream(t))
	replaceFile(t, r.d.cert, r.d.ca1.server(t, 3).certPEM)
	for range 3 {
		r.clock.Advance(2 * time.Second)
		if s := r.newConnSerial(t); s != 1 {
			t.Fatalf("after a bad renewal: serial %d, want the last good 1", s)
		}
	}
	if n := strings.Count(r.logs.String(), "keeping the last good one"); n != 1 {
		t.Errorf("logged the bad files %d times, want once: %s", n, r.logs.String())
	}
	if !strings.Contains(r.logs.String(), "private key does not match public key") {
		t.Errorf("log does not say what is wrong: %s", r.logs.String())
	}
	if bad := counter(t, r.Registry(), "jwtgate_gateway_tls_reloads_total", "file", "certificate", "result", "error"); bad != 1 {
		t.Errorf("reload errors %v, want 1", bad)
	}
	r.renew(t, 4)
	r.clock.Advance(2 * time.Second)
	if s := r.newConnSerial(t); s != 4 {
		t.Fatalf("after the fix: serial %d, want 4", s)
	}
}

// The client CA bundle is read again like the certificate: a CA added to
// the file is accepted on the next handshakes, a removed one refused, and
// a bundle that does not parse keeps the last good one.
func TestTLSClientCARotation(t *testing.T) {
	d := newTLSDir(t)
	clock := jwtgatetest.NewClock(time.Now())
	g := startGatewayOpts(t, tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9",
		&TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequire}), Options{Now: clock.Now})
	ca2 := newTestCA(t, "test CA 2")
	fromCA2 := ca2.client(t, 30, "client of CA 2")
	accepted := func(cert *issued) bool {
		t.Helper()
		resp, _, err := newTLSClient(t, d.ca1, cert, true).get(g.url+"/healthz", "")
		return err == nil && resp.StatusCode == http.StatusOK
	}
	if !accepted(d.clientA) || accepted(fromCA2) {
		t.Fatal("before: want CA 1's client in, CA 2's out")
	}
	replaceFile(t, d.ca, ca2.pem)
	clock.Advance(2 * time.Second)
	if accepted(d.clientA) || !accepted(fromCA2) {
		t.Fatal("after the bundle became CA 2: want CA 1's client out, CA 2's in")
	}
	replaceFile(t, d.ca, []byte("not PEM\n"))
	clock.Advance(2 * time.Second)
	if !accepted(fromCA2) {
		t.Fatal("a bundle that does not parse replaced the last good one")
	}
	if bad := counter(t, g.Registry(), "jwtgate_gateway_tls_reloads_total", "file", "client_ca", "result", "error"); bad != 1 {
		t.Errorf("client_ca reload errors %v, want 1", bad)
	}
}

// Every mistake in tls: is a config error naming the file and the
// problem, all of them in one run.
func TestTLSConfigProblems(t *testing.T) {
	d := newTLSDir(t)
	other := d.ca1.server(t, 5)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		replaceFile(t, p, b)
		return p
	}
	otherKey := write("other.key", other.keyPEM)
	garbage := write("garbage.pem", []byte("hello\n"))
	badCert := write("bad.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")}))
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		name string
		tc   TLSConfig
		want []string
	}{
		{"empty", TLSConfig{}, []string{"tls: cert_file and key_file are required"}},
		{"no key", TLSConfig{CertFile: d.cert}, []string{"tls: key_file is required"}},
		{"no cert", TLSConfig{KeyFile: d.key}, []string{"tls: cert_file is required"}},
		{"missing cert", TLSConfig{CertFile: missing, KeyFile: d.key}, []string{`tls: cert_file "` + missing + `": open`, "no such file"}},
		{"missing key", TLSConfig{CertFile: d.cert, KeyFile: missing}, []string{`tls: key_file "` + missing + `": open`}},
		{"cert not PEM", TLSConfig{CertFile: garbage, KeyFile: d.key}, []string{`cert_file "` + garbage + `": no PEM certificate`}},
		{"cert not DER", TLSConfig{CertFile: badCert, KeyFile: d.key}, []string{`cert_file "` + badCert + `": certificate 1: x509:`}},
		{"key not PEM", TLSConfig{CertFile: d.cert, KeyFile: garbage}, []string{`key_file "` + garbage + `": no PEM private key`}},
		{"a certificate for a key file", TLSConfig{CertFile: d.cert, KeyFile: d.cert}, []string{"no PEM private key"}},
		{"key of another certificate", TLSConfig{CertFile: d.cert, KeyFile: otherKey}, []string{"private key does not match public key"}},
		{"client_auth unknown", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientAuth: "optional"}, []string{`client_auth "optional": want none, request or require`}},
		{"request without CAs", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientAuth: ClientAuthRequest}, []string{"client_auth request needs client_ca_file"}},
		{"require without CAs", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientAuth: ClientAuthRequire}, []string{"client_auth require needs client_ca_file"}},
		{"CAs without client_auth", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca}, []string{"client_ca_file is given but client_auth is none"}},
		{"CAs with client_auth none", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthNone}, []string{"client_auth is none"}},
		{"CA file not PEM", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: garbage, ClientAuth: ClientAuthRequire}, []string{`client_ca_file "` + garbage + `": no PEM certificate`}},
		{"CA file missing", TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: missing, ClientAuth: ClientAuthRequest}, []string{`client_ca_file "` + missing + `": open`}},
		{"all at once", TLSConfig{CertFile: garbage, KeyFile: d.key, ClientCAFile: garbage, ClientAuth: "sometimes"},
			[]string{`cert_file "` + garbage, `client_ca_file "` + garbage, `client_auth "sometimes"`}},
	} {
		tc := c.tc
		_, err := tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9", &tc).Validate(gwtest.Env(nil))
		if err == nil {
			t.Errorf("%s: valid", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", c.name, err, w)
			}
		}
	}
	for _, tc := range []TLSConfig{
		{CertFile: d.cert, KeyFile: d.key},
		{CertFile: d.cert, KeyFile: d.key, ClientAuth: ClientAuthNone},
		{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequest},
		{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequire},
	} {
		if _, err := tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9", &tc).Validate(gwtest.Env(nil)); err != nil {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// A tls: section read from a config file serves HTTPS with HTTP/2 and
// https:// URLs; one whose files are wrong is refused by New. (The
// program's listening line: cli's TestRunServesTLS.)
func TestConfigFileServesTLS(t *testing.T) {
	idp, up, d := gwtest.StartIDP(t, false), gwtest.StartUpstream(t), newTLSDir(t)
	cfg, err := LoadFile(gwtest.WriteConfig(t, "listen: 127.0.0.1:0\nissuer: "+idp.Issuer()+"\nroutes: [{prefix: /, upstream: '"+up.URL+"'}]\n"+
		"tls: {cert_file: '"+d.cert+"', key_file: '"+d.key+"', client_ca_file: '"+d.ca+"', client_auth: request}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := startGatewayOpts(t, cfg, Options{})
	resp, body := newTLSClient(t, d.ca1, d.clientA, true).mustGet(t, g.url+"/healthz", "")
	if !strings.HasPrefix(g.url, "https://127.0.0.1:") || g.Scheme() != "https" || resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Errorf("url %s: %s %d %s", g.url, resp.Proto, resp.StatusCode, body)
	}

	bad, err := LoadFile(gwtest.WriteConfig(t, "issuer: https://idp.example\nroutes: [{prefix: /, upstream: 'http://127.0.0.1:9'}]\ntls: {cert_file: '"+d.cert+"', key_file: '"+d.cert+"'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), bad, Options{Logger: quiet, LookupEnv: gwtest.Env(nil)}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "no PEM private key") {
		t.Errorf("bad key file: New: %v", err)
	}
}

// tls: decodes from YAML with its four keys; others are errors.
func TestTLSYAML(t *testing.T) {
	cfg, err := ParseYAML([]byte("tls:\n  cert_file: a.crt\n  key_file: a.key\n  client_ca_file: ca.crt\n  client_auth: require\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (TLSConfig{CertFile: "a.crt", KeyFile: "a.key", ClientCAFile: "ca.crt", ClientAuth: ClientAuthRequire}); cfg.TLS == nil || *cfg.TLS != want {
		t.Fatalf("tls = %+v", cfg.TLS)
	}
	if _, err := ParseYAML([]byte("tls: {cert: a.crt}\n")); err == nil || !strings.Contains(err.Error(), "field cert not found") {
		t.Errorf("unknown key: %v", err)
	}
}

// changedFiles sees another file, another size and another modification
// time, and a file that comes or goes; a file still missing is no change.
func TestTLSChangedFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a")
	replaceFile(t, a, []byte("one"))
	before := statAll(a)
	if changedFiles(before, statAll(a)) {
		t.Error("unchanged file: changed")
	}
	t0 := before[0].ModTime()
	if err := os.Chtimes(a, t0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if !changedFiles(before, statAll(a)) {
		t.Error("new modification time: unchanged")
	}
	if err := os.WriteFile(a, []byte("three"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(a, t0, t0); err != nil {
		t.Fatal(err)
	}
	if !changedFiles(before, statAll(a)) {
		t.Error("new size, same time: unchanged")
	}
	replaceFile(t, a, []byte("one"))
	if err := os.Chtimes(a, t0, t0); err != nil {
		t.Fatal(err)
	}
	if !changedFiles(before, statAll(a)) {
		t.Error("renamed over, same size and time: unchanged")
	}
	gone := filepath.Join(dir, "gone")
	if changedFiles(statAll(gone), statAll(gone)) {
		t.Error("still missing: changed")
	}
	if !changedFiles(statAll(gone), statAll(a)) || !changedFiles(statAll(a), statAll(gone)) {
		t.Error("a file that comes or goes: unchanged")
	}
}

// The docs' TLS config and certificate commands are testdata/tls.yaml
// and testdata/tls-certs.sh verbatim; the config is valid with the three
// files it names, and, where openssl is installed, the commands make files
// it accepts and print the client certificate's thumbprint.
func TestDocsHaveTheTLSConfig(t *testing.T) {
	docs, err := gwtest.ReadDocs()
	if err != nil {
		t.Fatal(err)
	}
	yamlDoc, err := os.ReadFile("testdata/tls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("testdata/tls-certs.sh")
	if err != nil {
		t.Fatal(err)
	}
	sh, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"testdata/tls.yaml": yamlDoc, "testdata/tls-certs.sh": sh} {
		if !strings.Contains(string(docs), "\n"+string(b)+"```") {
			t.Errorf("docs/gateway.md does not contain %s verbatim as a block: copy it there again", name)
		}
	}
	cfg, err := ParseYAML(yamlDoc)
	if err != nil {
		t.Fatal(err)
	}

	// The files, from the test's own CA.
	makeDocumentedTLSFiles(t, yamlDoc)
	if _, err := cfg.Validate(gwtest.Env(nil)); err != nil {
		t.Fatalf("with the three files: %v", err)
	}

	checkDocsCertCommands(t, cfg, script)
}

// checkDocsCertCommands runs the docs' certificate commands (script)
// in a new directory: cfg is valid with the files they make, and they
// print the client certificate's thumbprint. The tools they need are
// required, as redis-server is: a skip would pass with the docs unchecked.
func checkDocsCertCommands(t *testing.T, cfg Config, script string) {
	for _, tool := range []string{"openssl", "basenc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the documented certificate commands need %s: %v", tool, err)
		}
	}
	t.Chdir(t.TempDir())
	var stderr strings.Builder
	cmd := exec.Command("bash", "-e", script)
	cmd.Stderr = &stderr // openssl's chatter
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", script, err, out, stderr.String())
	}
	if _, err := cfg.Validate(gwtest.Env(nil)); err != nil {
		t.Fatalf("with the commands' files: %v", err)
	}
	clientPEM, err := os.ReadFile("tls/client.crt")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(clientPEM)
	if block == nil {
		t.Fatal("tls/client.crt: no PEM")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got, want := lines[len(lines)-1], jwtgatetest.CertThumbprint(block.Bytes); got != want {
		t.Errorf("printed thumbprint %q, want %q", got, want)
	}
	pool, err := loadCAPool("tls/ca.crt")
	if err != nil {
		t.Fatal(err)
	}
	client, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the client certificate does not pass client_auth: %v", err)
	}
}

// Gateway.TLSConfig serves a server of one's own around Handler: HTTPS
// with HTTP/2 and the client-certificate policy. Without tls: it is nil.
func TestTLSConfigForAServerOfOnesOwn(t *testing.T) {
	d := newTLSDir(t)
	g, err := New(context.Background(), tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9",
		&TLSConfig{CertFile: d.cert, KeyFile: d.key, ClientCAFile: d.ca, ClientAuth: ClientAuthRequire}), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g.Handler(), TLSConfig: g.TLSConfig()}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	defer func() {
		srv.Close()
		<-done
	}()
	url := "https://" + ln.Addr().String() + "/healthz"
	resp, body := newTLSClient(t, d.ca1, d.clientA, true).mustGet(t, url, "")
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Errorf("%s %d %s", resp.Proto, resp.StatusCode, body)
	}
	if _, _, err := newTLSClient(t, d.ca1, nil, true).get(url, ""); err == nil {
		t.Error("no client certificate: handshake succeeded under require")
	}

	plain, err := New(context.Background(), tlsGatewayConfig("https://idp.example", "http://127.0.0.1:9", nil), Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.TLSConfig() != nil {
		t.Error("TLSConfig without tls: not nil")
	}
}

// Handshakes from many clients at once while the files are renewed and
// the clock moves on: every handshake succeeds with one of the
// certificates, and the race detector sees the checks and swaps.
func TestTLSHandshakesDuringRenewals(t *testing.T) {
	r := startRotationGateway(t, gwtest.StartIDP(t, false), gwtest.StartUpstream(t))
	const clients, each, renewals = 8, 10, 40
	certs := make([]*issued, renewals)
	for i := range certs {
		certs[i] = r.d.ca1.server(t, int64(100+i))
	}
	errc := make(chan error, clients*each+renewals)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // renews the files (not through t: this is not the test's goroutine)
		defer close(done)
		for _, c := range certs {
			select {
			case <-stop:
				return
			default:
			}
			for name, b := range map[string][]byte{r.d.cert: c.certPEM, r.d.key: c.keyPEM} {
				if err := errors.Join(os.WriteFile(name+".tmp", b, 0o600), os.Rename(name+".tmp", name)); err != nil {
					errc <- err
				}
			}
			r.clock.Advance(2 * time.Second)
		}
	}()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				resp, _, err := newTLSClient(t, r.d.ca1, nil, true).get(r.url+"/healthz", "")
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if err != nil {
					errc <- err
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-done
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := counter(t, r.Registry(), "jwtgate_gateway_tls_reloads_total", "file", "certificate", "result", "ok"); n == 0 {
		t.Error("no reload during the renewals")
	}
}

// makeDocumentedTLSFiles changes to a new directory and writes there every
// TLS file the configs in docs name (cert_file, key_file, client_ca_file:
// relative paths), from one in-test CA: a server certificate and its key,
// and the CA.
func makeDocumentedTLSFiles(t *testing.T, docs []byte) {
	t.Helper()
	ca := newTestCA(t, "docs CA")
	srv := ca.server(t, 1)
	contents := map[string][]byte{"cert_file": srv.certPEM, "key_file": srv.keyPEM, "client_ca_file": ca.pem, "ca_file": ca.pem}
	t.Chdir(t.TempDir())
	for _, m := range regexp.MustCompile(`(?m)\b(cert_file|key_file|client_ca_file|ca_file):\s*(\S+)`).FindAllSubmatch(docs, -1) {
		name := filepath.FromSlash(string(m[2]))
		if filepath.IsAbs(name) || !filepath.IsLocal(name) {
			t.Fatalf("a documented config names the TLS file %q: want a relative path (the test writes it)", m[2])
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		replaceFile(t, name, contents[string(m[1])])
	}
}

package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/gateway"
	"github.com/jwtgate/jwtgate/internal/gwtest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// and returns their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "gw.crt"), filepath.Join(dir, "gw.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// The program reads tls: from its config file, serves HTTPS and prints
// https:// URLs; a tls: section whose files are wrong is exit 2 before
// listening.
func TestRunServesTLS(t *testing.T) {
	idp, up := gwtest.StartIDP(t, false), gwtest.StartUpstream(t)
	certFile, keyFile, pool := selfSigned(t)
	yaml := gwtest.WriteConfig(t, "listen: 127.0.0.1:0\nissuer: "+idp.Issuer()+"\nroutes: [{prefix: /, upstream: '"+up.URL+"'}]\n"+
		"tls: {cert_file: '"+certFile+"', key_file: '"+keyFile+"'}\n")
	var stdout gwtest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	urlc, done := make(chan string, 1), make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"-config", yaml}, Env{Stdout: &stdout, Stderr: io.Discard, Options: gateway.Options{Logger: quiet},
			OnServe: func(e ServeEvent) { urlc <- e.URL }})
	}()
	var url string
	select {
	case url = <-urlc:
	case code := <-done:
		cancel()
		t.Fatalf("exit %d before serving", code)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get(url + "/healthz")
	if err != nil {
		cancel()
		<-done
		t.Fatal(err)
	}
	resp.Body.Close()
	tr.CloseIdleConnections()
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d", code)
	}
	if !strings.HasPrefix(url, "https://127.0.0.1:") || resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		t.Errorf("url %s: %s %d", url, resp.Proto, resp.StatusCode)
	}
	if want := "jwtgate gateway listening on " + url + " "; !strings.HasPrefix(stdout.String(), want) {
		t.Errorf("stdout %q, want it to start with %q", stdout.String(), want)
	}

	bad := gwtest.WriteConfig(t, "issuer: https://idp.example\nroutes: [{prefix: /, upstream: 'http://127.0.0.1:9'}]\ntls: {cert_file: '"+certFile+"', key_file: '"+certFile+"'}\n")
	var stderr gwtest.SyncBuffer
	code := Run(context.Background(), []string{"-config", bad}, Env{Stdout: &stdout, Stderr: &stderr, Options: gateway.Options{Logger: quiet}})
	if code != ExitUsage || !strings.Contains(stderr.String(), "no PEM private key") {
		t.Errorf("bad key file: exit %d, stderr %q", code, stderr.String())
	}
}

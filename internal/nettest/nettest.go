// Package nettest makes network failures happen on this machine, for tests
// of how they are reported: a name that does not resolve (answered by a DNS
// server in the process, never the network's), a loopback port nothing
// listens on, and a TLS server whose certificate nothing trusts.
package nettest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Resolver is a Go resolver whose DNS server is in the process and answers
// every query NXDOMAIN ("no such host"), as a real one answers for a name
// under .invalid (RFC 6761), with no network in between.
func Resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go answerNXDOMAIN(server)
			return client, nil
		},
	}
}

// answerNXDOMAIN serves DNS over a stream (RFC 1035 4.2.2: each message
// after its 2-byte length): each query gets its own question back with
// RCODE 3, name error.
func answerNXDOMAIN(c net.Conn) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		end := 12 // the question: a name of labels, then type and class
		for end < len(q) && q[end] != 0 {
			end += 1 + int(q[end])
		}
		end += 1 + 4
		if end > len(q) {
			return
		}
		a := append([]byte(nil), q[:end]...)
		a[2] = 0x80 | q[2]&0x79 // QR, the query's opcode and RD
		a[3] = 0x80 | 3         // RA, RCODE 3
		binary.BigEndian.PutUint16(a[4:], 1)
		clear(a[6:12]) // no answer, authority or additional records
		binary.BigEndian.PutUint16(n[:], uint16(len(a)))
		if _, err := c.Write(append(n[:], a...)); err != nil {
			return
		}
	}
}

// Client is an HTTP client (the default transport's settings, without a
// proxy) that resolves names with Resolver: every name is unknown.
func Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // HTTPS_PROXY would resolve the name elsewhere
	d := &net.Dialer{Resolver: Resolver()}
	tr.DialContext = d.DialContext
	return &http.Client{Transport: tr}
}

// ClosedPort is a loopback address ("127.0.0.1:port") where nothing
// listens: a connection to it is refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// UntrustedTLS starts an HTTPS server for 127.0.0.1 whose certificate is
// self-signed, made for this server alone: no trust store holds it (unlike
// httptest's fixed certificate, which a test may have trusted through
// SSL_CERT_FILE). It answers every request 200 with an empty JSON object.
func UntrustedTLS(t testing.TB) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "untrusted test server"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes it is there to fail
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

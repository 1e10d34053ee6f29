package falcon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// ConnectionError is a request to the Falcon API that got no answer: the
// host's name did not resolve, the connection was refused or timed out, a
// proxy could not be reached, or the TLS handshake failed (a certificate
// this machine does not trust). Falcon never saw the client ID and secret,
// so the message points at where the request went (FALCON_CLOUD,
// FALCON_BASE_URL, HTTPS_PROXY, SSL_CERT_FILE), never at the credential.
//
// Every request the client sends goes through transport, which is where a
// failure becomes one (connectionError); errors.As finds it in the error
// of any call, cold start (cloud autodiscovery) included.
type ConnectionError struct {
	// Host is the host[:port] the request was for: the API host, or the
	// autodiscovery host (api.crowdstrike.com).
	Host string
	// Cause says what failed, for a person ("connection refused").
	Cause string
	// Hint says what to check.
	Hint string
	// Err is the error from the network or TLS stack.
	Err error
	// lasting: trying again in a second cannot help (a name that does not
	// exist, a certificate not trusted), so the request is not retried.
	lasting bool
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot connect to the Falcon API at %s: %s; %s", e.Host, e.Cause, e.Hint)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// Hints, by what failed.
const (
	hintWhere = "check FALCON_CLOUD, or FALCON_BASE_URL's host and port if set; where the internet is reached only through a proxy, set HTTPS_PROXY"
	hintProxy = "check HTTPS_PROXY (or https_proxy), the proxy every request goes through"
	hintCA    = "a proxy that inspects TLS, or the simulator, presents its own certificate: point SSL_CERT_FILE at its CA certificate (PEM); " +
		"otherwise check FALCON_BASE_URL"
	hintName  = "FALCON_BASE_URL must name a host the certificate is issued for; a proxy that inspects TLS needs its CA certificate in SSL_CERT_FILE"
	hintClock = "check this machine's clock; a proxy that inspects TLS needs a valid certificate, its CA in SSL_CERT_FILE"
	hintTLS   = "FALCON_BASE_URL must be an https:// address that answers TLS; check FALCON_CLOUD and HTTPS_PROXY"
)

// connectionError classifies err, the failure of a request to host, as a
// *ConnectionError; nil when err is not about reaching the host (a failure
// after the connection was made, a cancelled request). The caller leaves
// out the errors of a request whose own context ended.
func connectionError(host string, err error) *ConnectionError {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	ce := &ConnectionError{Host: host, Err: err}
	var (
		dnsErr   *net.DNSError
		opErr    *net.OpError
		verifyE  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	// The proxy first: its own DNS or dial error is wrapped in "proxyconnect".
	case errors.As(err, &opErr) && opErr.Op == "proxyconnect":
		at := ""
		if inner := (*net.OpError)(nil); errors.As(opErr.Err, &inner) && inner.Addr != nil {
			at = " at " + inner.Addr.String()
		}
		ce.Cause, ce.Hint = fmt.Sprintf("the proxy%s cannot be reached: %s", at, innermost(opErr.Err)), hintProxy
	case errors.As(err, &unknown):
		ce.Cause, ce.Hint, ce.lasting = "its TLS certificate is signed by an authority this machine does not trust ("+unknown.Error()+")", hintCA, true
	case errors.As(err, &hostname):
		ce.Cause, ce.Hint, ce.lasting = "its TLS certificate is not for this host ("+hostname.Error()+")", hintName, true
	case errors.As(err, &invalid):
		ce.Cause, ce.Hint, ce.lasting = "its TLS certificate is not valid ("+invalid.Error()+")", hintClock, true
	case errors.As(err, &verifyE):
		ce.Cause, ce.Hint, ce.lasting = "its TLS certificate could not be verified ("+verifyE.Error()+")", hintCA, true
	case errors.As(err, &record):
		ce.Cause, ce.Hint, ce.lasting = "it does not answer TLS (a plain-HTTP server?)", hintTLS, true
	case errors.As(err, &alert):
		ce.Cause, ce.Hint = "the TLS handshake failed ("+alert.Error()+")", hintTLS
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			ce.Cause, ce.lasting = fmt.Sprintf("the name %s does not resolve (DNS: no such host)", dnsErr.Name), true
		} else {
			ce.Cause = fmt.Sprintf("the DNS lookup of %s failed (%v)", dnsErr.Name, dnsErr.Err)
		}
		ce.Hint = hintWhere
	case errors.As(err, &opErr) && opErr.Op == "dial":
		ce.Cause, ce.Hint = innermost(opErr.Err), hintWhere
		if opErr.Timeout() {
			ce.Cause = "the connection timed out"
		}
		if addr := addrOf(opErr); addr != "" && addr != host {
			ce.Cause += " (" + addr + ")"
		}
	default:
		return nil
	}
	return ce
}

// addrOf is the address a network operation was for ("" when unknown).
func addrOf(e *net.OpError) string {
	if e.Addr != nil {
		return e.Addr.String()
	}
	return ""
}

// innermost is the message of the last error in err's chain ("connection
// refused" rather than "dial tcp 127.0.0.1:1: connect: connection refused").
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

package falcon_test

// A request that never reaches Falcon says where it went and what failed
// there, and suggests what fits (FALCON_CLOUD / FALCON_BASE_URL, HTTPS_PROXY,
// SSL_CERT_FILE), never the client secret: Falcon did not judge it. A
// refusal from Falcon still points at the client ID/secret.

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/demo"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falcon"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/nettest"
	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// countingDials counts the connections hc's transport opens.
func countingDials(hc *http.Client) (*http.Client, *atomic.Int64) {
	base := http.DefaultTransport
	if hc.Transport != nil {
		base = hc.Transport
	}
	tr := base.(*http.Transport).Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var n atomic.Int64
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		n.Add(1)
		return dial(ctx, network, addr)
	}
	return &http.Client{Transport: tr}, &n
}

func TestConnectionFailuresNameTheHostAndTheCause(t *testing.T) {
	closed := nettest.ClosedPort(t)
	untrusted := nettest.UntrustedTLS(t)
	untrustedHost := untrusted.Listener.Addr().String()
	plainHTTP := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(plainHTTP.Close)
	// The simulator's certificate (httptest's) names example.com, not this address.
	sim := falconsim.StartTLS(falconsim.New(falconsim.Options{}))
	t.Cleanup(sim.Close)
	wrongName := sim.Client().Transport.(*http.Transport).Clone()
	wrongName.TLSClientConfig.ServerName = "falcon.example.org"
	proxied := http.DefaultTransport.(*http.Transport).Clone()
	proxied.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: closed})

	for name, tc := range map[string]struct {
		baseURL string
		client  *http.Client
		host    string
		want    []string
		dials   int64 // connections opened: a lasting failure is not tried again
	}{
		"connection refused": {"https://" + closed, http.DefaultClient, closed,
			[]string{"connection refused", "FALCON_BASE_URL", "FALCON_CLOUD", "HTTPS_PROXY"}, 4},
		"unknown host": {"https://falcon.invalid", nettest.Client(), "falcon.invalid",
			[]string{"the name falcon.invalid does not resolve (DNS: no such host)", "FALCON_BASE_URL", "FALCON_CLOUD", "HTTPS_PROXY"}, 1},
		"untrusted certificate": {untrusted.URL, http.DefaultClient, untrustedHost,
			[]string{"TLS certificate is signed by an authority this machine does not trust", "SSL_CERT_FILE"}, 1},
		"certificate for another name": {sim.URL, &http.Client{Transport: wrongName}, sim.Listener.Addr().String(),
			[]string{"TLS certificate is not for this host", "falcon.example.org", "FALCON_BASE_URL", "SSL_CERT_FILE"}, 1},
		"plain HTTP on an https:// address": {"https://" + plainHTTP.Listener.Addr().String(), http.DefaultClient, plainHTTP.Listener.Addr().String(),
			[]string{"does not answer TLS", "https://"}, 1},
		"proxy refused": {"https://falcon.invalid", &http.Client{Transport: proxied}, "falcon.invalid",
			[]string{"the proxy at " + closed + " cannot be reached: connection refused", "HTTPS_PROXY"}, 4},
	} {
		t.Run(name, func(t *testing.T) {
			hc, dials := countingDials(tc.client)
			fc, err := falcon.New(context.Background(), falcon.Config{
				ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, BaseURL: tc.baseURL, HTTPClient: hc,
			})
			require.NoError(t, err, "a base URL needs no request")

			_, err = fc.Accounts(context.Background())

			var ce *falcon.ConnectionError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.host, ce.Host)
			msg := err.Error()
			assert.Contains(t, msg, "cannot connect to the Falcon API at "+tc.host+": ")
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.NotContains(t, msg, "client ID/secret")
			assert.NotContains(t, msg, demo.ClientSecret)
			assert.NotErrorIs(t, err, onboard.ErrAccessDenied, "not reaching Falcon is not a refusal")
			assert.Equal(t, tc.dials, dials.Load())
		})
	}
}

// Autodiscovery (the Lambda's cold start with FALCON_CLOUD=autodiscover)
// asks api.crowdstrike.com; when that cannot be reached, the error says so.
func TestAutodiscoveryThatCannotConnectNamesItsHost(t *testing.T) {
	closed := nettest.ClosedPort(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, closed) // every Falcon host is this closed port
	}

	_, err := falcon.New(context.Background(), falcon.Config{
		ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Cloud: "autodiscover", HTTPClient: &http.Client{Transport: tr},
	})

	var ce *falcon.ConnectionError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "api.crowdstrike.com", ce.Host)
	assert.Contains(t, err.Error(), "autodiscovering the Falcon cloud (FALCON_CLOUD=autodiscover asks api.crowdstrike.com): cannot connect to the Falcon API at api.crowdstrike.com: connection refused")
	assert.NotContains(t, err.Error(), "client ID/secret")
}

// Falcon refusing the credential (the token endpoint's 401/403), at a run
// and at autodiscovery, points at the client ID/secret.
func TestRefusedCredentialPointsAtTheClientIDAndSecret(t *testing.T) {
	sim := falconsim.New(falconsim.Options{ClientID: demo.ClientID, ClientSecret: "another-secret"})
	srv := falconsim.StartTLS(sim)
	t.Cleanup(srv.Close)

	fc, err := falcon.New(context.Background(), falcon.Config{
		ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, BaseURL: srv.URL, HTTPClient: srv.Client(),
	})
	require.NoError(t, err)
	_, err = fc.Accounts(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "getting a Falcon API token failed: token endpoint answered 401")
	assert.Contains(t, err.Error(), "check the client ID/secret")
	var ce *falcon.ConnectionError
	assert.False(t, errors.As(err, &ce))

	// Autodiscovery, against the simulator as api.crowdstrike.com.
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.ServerName = "example.com"
	tr.DialTLSContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := tls.Dialer{Config: tr.TLSClientConfig}
		return d.DialContext(ctx, network, srv.Listener.Addr().String())
	}
	_, err = falcon.New(context.Background(), falcon.Config{
		ClientID: demo.ClientID, ClientSecret: demo.ClientSecret, Cloud: "autodiscover", HTTPClient: &http.Client{Transport: tr},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "autodiscovering the Falcon cloud")
	assert.Contains(t, err.Error(), "check the client ID/secret")
	assert.NotContains(t, err.Error(), demo.ClientSecret)
}

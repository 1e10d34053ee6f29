package nettest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/nettest"
)

func TestResolverAnswersNoSuchHost(t *testing.T) {
	for _, name := range []string{"falcon.invalid", "api.crowdstrike.com", "a.b.c.example"} {
		_, err := nettest.Resolver().LookupHost(context.Background(), name)
		var dnsErr *net.DNSError
		require.ErrorAs(t, err, &dnsErr, name)
		assert.True(t, dnsErr.IsNotFound, "%s: %v", name, err)
	}
	_, err := nettest.Client().Get("https://falcon.invalid/")
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr)
	assert.True(t, dnsErr.IsNotFound)
}

func TestClosedPortRefuses(t *testing.T) {
	_, err := net.Dial("tcp", nettest.ClosedPort(t))
	assert.True(t, errors.Is(err, syscall.ECONNREFUSED), "%v", err)
}

func TestUntrustedTLSIsNotTrusted(t *testing.T) {
	srv := nettest.UntrustedTLS(t)
	_, err := http.Get(srv.URL)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)

	resp, err := srv.Client().Get(srv.URL) // trusting it, it answers
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

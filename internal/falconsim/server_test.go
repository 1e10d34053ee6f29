package falconsim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	fci "github.com/crowdstrike/gofalcon/falcon/client/falcon_container_image"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

func TestListenAndServeTLS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	base, err := ListenAndServeTLS(ctx, "127.0.0.1:0", New(Options{}), certFile)
	require.NoError(t, err)

	pemBytes, err := os.ReadFile(certFile)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pemBytes))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	resp, err := hc.PostForm(base+pathToken, url.Values{"client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, DefaultRegion, resp.Header.Get("X-Cs-Region"))
}

func TestDemoFixtures(t *testing.T) {
	e := newEnv(t, specOptions)
	DemoFixtures(e.sim)
	regs := e.sim.Registries()
	require.Len(t, regs, 3)
	assert.True(t, onboard.Owner("ecr-onboard").Owns(onboard.Registry{AccountID: "111111111111", Region: "us-east-1", Alias: regs[0].Alias}),
		"onboarded by ecr-onboard: %s", regs[0].Alias)

	acct := func(id string) Account {
		e.sim.mu.Lock()
		defer e.sim.mu.Unlock()
		return e.sim.accounts[id].Account
	}
	// Healthy account onboards; broken-trust and confused-deputy do not.
	_, err := e.img.CreateRegistryEntities(createParams(acct("222222222222"), "us-east-1"))
	require.NoError(t, err)
	for _, id := range []string{"555555555555", "666666666666"} {
		_, err := e.img.CreateRegistryEntities(createParams(acct(id), "us-east-1"))
		var bad *fci.CreateRegistryEntitiesBadRequest
		require.ErrorAs(t, err, &bad, id)
		assert.Contains(t, *bad.Payload.Errors[0].Message, "unable to assume role")
	}
	// Onboarded account's registries conflict.
	_, err = e.img.CreateRegistryEntities(createParams(acct("111111111111"), "us-west-2"))
	var conflict *fci.CreateRegistryEntitiesConflict
	require.ErrorAs(t, err, &conflict)
	assert.Empty(t, acct("888888888888").Regions)
	assert.Empty(t, acct("777777777777").ExternalID)
}

func TestConcurrentCreates(t *testing.T) {
	e := newEnv(t, specOptions)
	accts := GenerateAccounts(20, testRegions)
	e.sim.AddAccounts(accts...)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(accts))
	for _, a := range accts {
		for range 2 { // each URL twice: exactly one must win
			wg.Go(func() {
				_, err := e.img.CreateRegistryEntities(createParams(a, "us-east-1"))
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	var ok, conflicts int
	for err := range errs {
		var c *fci.CreateRegistryEntitiesConflict
		switch {
		case err == nil:
			ok++
		case assert.ErrorAs(t, err, &c, fmt.Sprint(err)):
			conflicts++
		}
	}
	assert.Equal(t, len(accts), ok)
	assert.Equal(t, len(accts), conflicts)
	assert.Len(t, e.sim.Registries(), len(accts))
}

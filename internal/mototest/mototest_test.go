package mototest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/mototest"
)

func TestStartServesSTS(t *testing.T) {
	srv := mototest.Start(t)
	id, err := sts.NewFromConfig(srv.Config()).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	require.NoError(t, err)
	require.Equal(t, mototest.AccountID, *id.Account)
	srv.Reset(t)
}

// Every call through HTTPClient (and so through Config) opens a connection
// of its own: none is kept idle for a loopback server to close under the
// next call, which a test making one attempt per call would fail on.
func TestHTTPClientKeepsNoIdleConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := mototest.HTTPClient()
	for range 3 {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
	}
	require.EqualValues(t, 3, conns.Load(), "one connection per call")
	hc, ok := (&mototest.Server{}).Config().HTTPClient.(*awshttp.BuildableClient)
	require.True(t, ok, "Config uses HTTPClient")
	require.True(t, hc.GetTransport().DisableKeepAlives)
}

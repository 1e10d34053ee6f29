package falcon_test

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/falconsim"
)

// CSPM's account query carries the products and features CrowdStrike's API
// specification requires (the simulator refuses it without them, 400, as a
// service that enforces the specification would): cspm and iom, which
// select every account CSPM registers.
func TestAccountQueryCarriesProductsAndFeatures(t *testing.T) {
	var mu sync.Mutex
	var queries []url.Values
	r := newRig(t, rigConfig{accounts: falconsim.GenerateAccounts(3, []string{"us-east-1"}),
		observe: func(req *http.Request, _ *http.Response, _ error, _ time.Time) {
			if req.URL.Path == "/cloud-security-registration-aws/queries/account/v1" {
				mu.Lock()
				queries = append(queries, req.URL.Query())
				mu.Unlock()
			}
		}})

	report := r.run(t)

	assert.Equal(t, 3, report.Accounts.Discovered)
	require.NotEmpty(t, queries)
	for _, q := range queries {
		assert.Equal(t, []string{"cspm"}, q["products"])
		assert.Equal(t, []string{"iom"}, q["features"])
	}
}

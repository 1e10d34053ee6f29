package onboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A run a fatal error stopped says so in its report: not complete, and the
// error; a run carried out has no "error" at all.
func TestAStoppedRunsReportCarriesTheError(t *testing.T) {
	cause := errors.New("cannot connect to the Falcon API at falcon.example: connection refused")
	for name, f := range map[string]Falcon{
		"before planning": failingListings{fakeFalcon: &fakeFalcon{}, accountsErr: cause},
		"while writing": &fakeFalcon{accounts: manyAccounts(4, "us-east-1"), createErr: func(Registry) error {
			return fmt.Errorf("%w (HTTP 403)", ErrAccessDenied)
		}},
	} {
		t.Run(name, func(t *testing.T) {
			report, err := (&Runner{Falcon: f, Owner: "p", MaxConcurrency: 1}).Run(context.Background(), Request{})
			require.Error(t, err)
			assert.False(t, report.Complete)
			assert.Equal(t, err.Error(), report.Error)
			assert.Equal(t, 3, report.ExitCode())
		})
	}

	report, err := (&Runner{Falcon: &fakeFalcon{accounts: manyAccounts(2, "us-east-1")}, Owner: "p"}).Run(context.Background(), Request{})
	require.NoError(t, err)
	b, err := json.Marshal(report)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"error"`)
}

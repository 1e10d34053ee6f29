package onboard

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingListings fails the accounts or the registries listing.
type failingListings struct {
	*fakeFalcon
	accountsErr, registriesErr error
}

func (f failingListings) Accounts(ctx context.Context) ([]Account, error) {
	if f.accountsErr != nil {
		return nil, f.accountsErr
	}
	return f.fakeFalcon.Accounts(ctx)
}

func (f failingListings) Registries(ctx context.Context) ([]Registry, error) {
	if f.registriesErr != nil {
		return nil, f.registriesErr
	}
	return f.fakeFalcon.Registries(ctx)
}

func TestListingFailuresAreErrListingFailed(t *testing.T) {
	cause := errors.New("HTTP 500: Internal Server Error")
	for name, f := range map[string]failingListings{
		"accounts":   {fakeFalcon: &fakeFalcon{}, accountsErr: cause},
		"registries": {fakeFalcon: &fakeFalcon{accounts: manyAccounts(2, "us-east-1")}, registriesErr: cause},
	} {
		t.Run(name, func(t *testing.T) {
			rn := &Runner{Falcon: f, Owner: "p"}
			_, err := rn.Run(context.Background(), Request{})
			require.ErrorIs(t, err, ErrListingFailed)
			require.ErrorIs(t, err, cause, "the cause stays in the chain")
			assert.NotContains(t, err.Error(), ErrListingFailed.Error(), "the marker adds nothing to the message")
			assert.Empty(t, f.fakeFalcon.registries, "nothing was written")
		})
	}

	// A listing refused with 403 is access denied and a listing failure.
	f := failingListings{fakeFalcon: &fakeFalcon{}, accountsErr: ErrAccessDenied}
	_, err := (&Runner{Falcon: f}).Run(context.Background(), Request{})
	assert.ErrorIs(t, err, ErrAccessDenied)
	assert.ErrorIs(t, err, ErrListingFailed)
}

package onboard

import "errors"

// ErrListingFailed: a run could not list CSPM accounts or Container
// Security registries, so it stopped before planning and wrote nothing
// (fail closed). A listing refused with 401/403 is ErrAccessDenied as well.
var ErrListingFailed = errors.New("listing failed")

// listingFailed marks a listing error as ErrListingFailed; its message is
// the error's own.
type listingFailed struct{ error }

func (e listingFailed) Unwrap() []error { return []error{e.error, ErrListingFailed} }

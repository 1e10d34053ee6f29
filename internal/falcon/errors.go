package falcon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/runtime"

	"github.com/crowdstrike-ecr/ecr-onboard/internal/onboard"
)

// statusOf is the HTTP status of a gofalcon error (0 when there was no answer).
func statusOf(err error) int {
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		return coded.Code()
	}
	var apiErr *runtime.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	return 0
}

// messages are the API's own error messages from a gofalcon error payload.
func messages(err error) string {
	var errs []*models.MsaAPIError
	var p1 interface {
		GetPayload() *models.DomainExternalRegistryResponse
	}
	var p2 interface {
		GetPayload() *models.MsaReplyMetaOnly
	}
	var p3 interface {
		GetPayload() *models.MsaspecResponseFields
	}
	var p4 interface { // the cloud asset inventory's errors
		GetPayload() *models.RestCursorResponseFields
	}
	switch {
	case errors.As(err, &p1) && p1.GetPayload() != nil:
		errs = p1.GetPayload().Errors
	case errors.As(err, &p2) && p2.GetPayload() != nil:
		errs = p2.GetPayload().Errors
	case errors.As(err, &p3) && p3.GetPayload() != nil:
		errs = p3.GetPayload().Errors
	case errors.As(err, &p4) && p4.GetPayload() != nil:
		errs = p4.GetPayload().Errors
	}
	var msgs []string
	for _, e := range errs {
		if e != nil && e.Message != nil {
			msgs = append(msgs, *e.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// statusText describes a failed call as "HTTP 403: message" (or the
// transport error), without dumping payloads.
func statusText(err error) string {
	code := statusOf(err)
	if code == 0 {
		return err.Error()
	}
	msg := messages(err)
	if msg == "" {
		msg = http.StatusText(code)
	}
	return fmt.Sprintf("HTTP %d: %s", code, msg)
}

// readError wraps a failed read (listing). Every read failure is fatal to the
// run; 401/403 name the scopes needed.
func readError(endpoint string, err error) error {
	var netErr *url.Error
	var connErr *ConnectionError
	switch code := statusOf(err); {
	case errors.As(err, &connErr):
		return fmt.Errorf("%s: %w", endpoint, connErr)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%s: %w (%s; %s)", endpoint, onboard.ErrAccessDenied, statusText(err), onboard.ScopesHint)
	case code == 0 && !errors.As(err, &netErr) && !errors.Is(err, errToken) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded):
		// An answer arrived but could not be decoded.
		return malformed(endpoint, err.Error())
	default:
		if code == 0 && errors.As(err, &netErr) {
			err = netErr.Err // endpoint names the request; the URL would add only its query
		}
		return fmt.Errorf("%s: %s", endpoint, statusText(err))
	}
}

// writeError maps a failed registry write onto onboard's errors.
func writeError(err error) error {
	switch {
	case errors.Is(err, onboard.ErrNotSent):
		return onboard.ErrNotSent
	case errors.Is(err, errToken):
		return fmt.Errorf("%w: %w", onboard.ErrAccessDenied, err)
	}
	switch code := statusOf(err); {
	case code == http.StatusTooManyRequests:
		// Still rate limited after every retry: not processed.
		return fmt.Errorf("%w (%s)", onboard.ErrNotSent, statusText(err))
	case code == http.StatusConflict:
		return onboard.ErrExists
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Errorf("%w (%s)", onboard.ErrAccessDenied, statusText(err))
	case code == http.StatusBadRequest && credentialProblem(messages(err)):
		return fmt.Errorf("%w: %s", onboard.ErrCredentialRejected, messages(err))
	case code == 0 || code >= 500:
		// No answer, or a server error: the write may or may not have happened.
		return fmt.Errorf("%w (%s)", onboard.ErrUncertain, statusText(err))
	default:
		return errors.New(statusText(err))
	}
}

func credentialProblem(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "assume") || strings.Contains(m, "credential") || strings.Contains(m, "external id")
}

// malformed reports an API answer that lacks what the run relies on.
func malformed(endpoint, what string) error {
	return fmt.Errorf("malformed Falcon API response from %s: %s", endpoint, what)
}

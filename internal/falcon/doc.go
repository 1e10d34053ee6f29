// Package falcon is the edge to the CrowdStrike Falcon API: it implements
// onboard.Falcon with gofalcon's generated service clients (only the CSPM AWS
// registration and Container Security registry services, so the binary does
// not link gofalcon's 170-service client).
//
// It owns what talking to Falcon takes: OAuth2 client credentials with
// refresh (and a secret read again when Falcon refuses it: keyring.go),
// cloud selection and autodiscovery, rate limits (429 and
// X-RateLimit-RetryAfter), retries that are safe (reads and PATCH/DELETE on
// 5xx; a create is never repeated here — the domain re-checks it), full
// pagination, and turning API answers into onboard's errors.
package falcon

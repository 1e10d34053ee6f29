// Package falcon is the edge to the CrowdStrike Falcon API: it implements
// onboard.Falcon (and onboard.Inventory) with gofalcon's generated service
// clients — only the CSPM AWS registration, Container Security registry and
// cloud asset services, so the binary does not link gofalcon's 170-service
// client.
//
// It owns what talking to Falcon takes: OAuth2 client credentials with
// refresh (and a secret read again when Falcon refuses it: keyring.go),
// cloud selection and autodiscovery, pacing every request to a share of the
// tenant's rate limit (pace.go) and waiting out 429s, retries that are safe
// (reads and PATCH/DELETE on 5xx; a create is never repeated here — the
// domain re-checks it), listings that are complete or an error (paging.go,
// cursor.go), CSPM's records of exactly the accounts asked for (to confirm
// an absence before PRUNE deletes for it), and turning API answers into
// onboard's errors. A request that gets no answer at all is a
// ConnectionError naming the host and what failed (connection.go), made in
// the transport every request goes through; only Falcon refusing a token
// points at the client ID and secret.
//
// Where gofalcon's generated code and the live service disagree, the live
// service wins, bent at the client's seam (a client option), as
// CrowdStrike's own Terraform provider does: a create answered 200
// (anySuccess), entity IDs as repeated parameters (repeatedIDs).
package falcon

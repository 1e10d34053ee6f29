// Package falconsim is an in-memory simulator of the subset of the
// CrowdStrike Falcon API that ecr-onboard uses: OAuth2 client-credentials
// tokens, AWS cloud-registration account queries/entities,
// container-security (registry assessment) registry CRUD, and the cloud
// asset inventory's resource queries/entities (ECR repositories).
//
// It exists so that tests and local demos can exercise the real gofalcon
// v0.22.0 generated clients without a Falcon tenant. Responses are encoded
// with gofalcon's falcon/models types and honour the status codes each
// generated response reader expects, with every field the models mark
// Required populated, so payload.Validate(strfmt.Default) succeeds.
//
// CSPM's accounts are modelled as tenants hold them: standalone accounts
// (GenerateAccounts), AWS Organizations registered as one, with one
// external ID and one role name for every member (Organization,
// GenerateOrganization), and accounts CSPM has not finished onboarding
// (StatusProvisioned). Regenerating an external ID changes one standalone
// account (RegenerateExternalID) or a whole organization at once
// (RegenerateOrganizationExternalID); the simulated roles then accept only
// the new ID.
//
// Besides the API itself, the simulator offers knobs for testing client
// robustness: token expiry (Options.TokenTTL, (*Sim).ExpireTokens), a token
// bucket rate limiter answering 429 with X-RateLimit-RetryAfter
// (Options.RateLimitPerMinute), injected latency (Options.Latency), scripted
// faults ((*Sim).InjectFault) and request statistics ((*Sim).Stats). And for
// the live service's variants and a tenant's changes while a run reads it:
// an account deregistered mid-listing ((*Sim).RemoveAccount), a trust policy
// IAM is still propagating ((*Sim).PropagateTrust), a duplicate create
// answered 200 with an empty body (Options.DuplicateCreateEmpty200), a
// credential PATCH that keeps the registration's state
// (Options.PatchKeepsState), a verdict that survives a credential Falcon
// accepts (Options.VerdictSurvivesResend), the record of a rejected create
// kept in state error (Options.KeepRejectedCreates), and an account query
// without products and features answered rather than refused
// (Options.LenientAccountQuery; by default it is refused, as CrowdStrike's
// current API specification marks both required).
//
// A *Sim is an http.Handler; use StartTLS in tests or ListenAndServeTLS to
// run it as a local HTTPS server.
package falconsim

package falconsim

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/models"
)

// Registry is a container registry connection in Falcon registry
// assessment.
type Registry struct {
	ID         string
	URL        string
	Alias      string // user_defined_alias
	RoleARN    string // credential details aws_iam_role
	ExternalID string // credential details aws_external_id
	Type       string // "ecr"
	State      string // e.g. "pending"
	Expired    bool   // credential.expired
	CreatedAt  time.Time
	// GovUsingCommercial is credential details
	// aws_gov_using_commercial_connection, when sent.
	GovUsingCommercial *bool
}

type regEntry struct {
	Registry
	uniqKey        string
	updatedAt      time.Time
	stateChangedAt time.Time
	credID         string
	credCreatedAt  time.Time
	credUpdatedAt  time.Time
}

// verdictStates are the states in which Falcon reports it cannot use a
// registration's credential (README, "Drift detection and the alias").
var verdictStates = map[string]bool{"error": true, "failed": true, "offline": true, "expired": true, "invalid": true, "unauthorized": true, "denied": true}

const (
	registriesDefaultLimit = 100
	registriesMaxIDs       = 100
	registryTypeECR        = "ecr"
	registryDefaultState   = "pending"
)

// ecrURL matches an ECR registry endpoint (already lower-cased, no trailing
// slash).
var ecrURL = regexp.MustCompile(`^https://[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// normalizeURL lower-cases u and strips trailing slashes; registries with
// equal normalized URLs are duplicates.
func normalizeURL(u string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(u)), "/")
}

// AddRegistry stores a pre-existing registry connection (no validation) and
// returns it with ID, Type ("ecr"), State ("pending") and CreatedAt filled
// in when empty.
func (s *Sim) AddRegistry(r Registry) Registry {
	if r.ID == "" {
		r.ID = newUUID()
	}
	if r.Type == "" {
		r.Type = registryTypeECR
	}
	if r.State == "" {
		r.State = registryDefaultState
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registries = append(s.registries, newRegEntry(r, ""))
	return r
}

func newRegEntry(r Registry, uniqKey string) *regEntry {
	return &regEntry{
		Registry:       r,
		uniqKey:        uniqKey,
		updatedAt:      r.CreatedAt,
		stateChangedAt: r.CreatedAt,
		credID:         newUUID(),
		credCreatedAt:  r.CreatedAt,
		credUpdatedAt:  r.CreatedAt,
	}
}

// Registries returns a snapshot of all registries in creation order.
func (s *Sim) Registries() []Registry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Registry, len(s.registries))
	for i, e := range s.registries {
		out[i] = e.Registry
	}
	return out
}

// findRegistry returns the entry with the given ID. Caller holds mu.
func (s *Sim) findRegistry(id string) (int, *regEntry) {
	for i, e := range s.registries {
		if e.ID == id {
			return i, e
		}
	}
	return -1, nil
}

// findRegistryByURL returns the entry whose normalized URL equals u's.
// Caller holds mu.
func (s *Sim) findRegistryByURL(u string) *regEntry {
	n := normalizeURL(u)
	for _, e := range s.registries {
		if normalizeURL(e.URL) == n {
			return e
		}
	}
	return nil
}

func fmtTime(t time.Time) *string { return ptr(t.UTC().Format(time.RFC3339)) }

// SetRegistryState sets what Falcon says of a registry: its state and
// whether its credential expired. It reports whether the registry exists.
func (s *Sim) SetRegistryState(id, state string, expired bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.findRegistry(id)
	if e == nil {
		return false
	}
	e.State, e.Expired, e.stateChangedAt = state, expired, time.Now().UTC()
	return true
}

// details renders stored credential details as mode says GETs return them.
func (e *regEntry) details(mode DetailsMode) map[string]any {
	d := map[string]any{}
	if mode >= DetailsRole {
		d["aws_iam_role"] = e.RoleARN
	}
	switch mode {
	case DetailsMasked:
		d["aws_external_id"] = "****"
	case DetailsFull:
		d["aws_external_id"] = e.ExternalID
	}
	return d
}

// model renders the entry as gofalcon's DomainExternalAPIRegistry, with
// credential details as mode says.
func (e *regEntry) model(mode DetailsMode) *models.DomainExternalAPIRegistry {
	never := time.Time{}
	return &models.DomainExternalAPIRegistry{
		ID:                 ptr(e.ID),
		Type:               ptr(e.Type),
		URL:                ptr(e.URL),
		UserDefinedAlias:   ptr(e.Alias),
		URLUniquenessAlias: ptr(e.uniqKey),
		State:              ptr(e.State),
		StateChangedAt:     fmtTime(e.stateChangedAt),
		CreatedAt:          fmtTime(e.CreatedAt),
		UpdatedAt:          fmtTime(e.updatedAt),
		LastRefreshedAt:    fmtTime(never),
		NextRefreshAt:      fmtTime(e.CreatedAt),
		RefreshInterval:    ptr(int32(0)),
		Credential: &models.DomainExternalCredentialResponse{
			ID:        ptr(e.credID),
			CreatedAt: fmtTime(e.credCreatedAt),
			UpdatedAt: fmtTime(e.credUpdatedAt),
			Expired:   ptr(e.Expired),
			ExpiredAt: fmtTime(never),
			Details:   e.details(mode),
		},
	}
}

// handleQueryRegistries implements GET /container-security/queries/registries/v1.
func (s *Sim) handleQueryRegistries(rc *reqCtx, r *http.Request) reply {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", registriesDefaultLimit)
	if err != nil {
		return errReply(rc, http.StatusBadRequest, err.Error())
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		return errReply(rc, http.StatusBadRequest, err.Error())
	}
	if limit == 0 {
		limit = registriesDefaultLimit
	}
	s.mu.Lock()
	ids := make([]string, len(s.registries))
	for i, e := range s.registries {
		ids[i] = e.ID
	}
	s.mu.Unlock()
	// Asked for more than its maximum, the endpoint serves its maximum and
	// still echoes the limit asked.
	return reply{status: http.StatusOK, body: &models.DomainExternalQueryResponse{
		Meta:      rc.pagedMeta(limit, offset, len(ids)),
		Resources: page(ids, offset, min(limit, s.opts.RegistryPageMax)),
	}}
}

// handleGetRegistries implements GET /container-security/entities/registries/v1.
// Unknown ids are omitted.
func (s *Sim) handleGetRegistries(rc *reqCtx, r *http.Request) reply {
	ids := idsParam(r.URL.Query(), "ids")
	if len(ids) == 0 {
		return errReply(rc, http.StatusBadRequest, "ids is required")
	}
	if len(ids) > registriesMaxIDs {
		return errReply(rc, http.StatusBadRequest, fmt.Sprintf("too many ids: %d, maximum is %d", len(ids), registriesMaxIDs))
	}
	body := &models.DomainExternalRegistryListResponse{Meta: rc.meta(), Resources: []*models.DomainExternalAPIRegistry{}}
	s.mu.Lock()
	for _, id := range ids {
		if _, e := s.findRegistry(id); e != nil {
			body.Resources = append(body.Resources, e.model(s.opts.Details))
		}
	}
	s.mu.Unlock()
	return reply{status: http.StatusOK, body: body}
}

// handleCreateRegistry implements POST /container-security/entities/registries/v1.
func (s *Sim) handleCreateRegistry(rc *reqCtx, r *http.Request) reply {
	var p models.RegistryassessmentExternalRegistryPayload
	if msg := decodeValid(r, &p); msg != "" {
		return errReply(rc, http.StatusBadRequest, msg)
	}
	if *p.Type != registryTypeECR {
		return errReply(rc, http.StatusBadRequest, fmt.Sprintf("unsupported registry type %q", *p.Type))
	}
	if !ecrURL.MatchString(normalizeURL(*p.URL)) {
		return errReply(rc, http.StatusBadRequest, fmt.Sprintf("invalid ECR registry url %q: want https://<account>.dkr.ecr.<region>.amazonaws.com", *p.URL))
	}
	cred, msg := s.credDetails(p.Credential.Details, *p.URL)
	if msg != "" {
		return errReply(rc, http.StatusBadRequest, msg)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if dup := s.findRegistryByURL(*p.URL); dup != nil {
		if s.opts.DuplicateCreateEmpty200 {
			return reply{status: http.StatusOK, raw: []byte{}}
		}
		return errReply(rc, http.StatusConflict, fmt.Sprintf("registry already exists: %s (id %s)", *p.URL, dup.ID))
	}
	if msg := s.assumeRole(cred.role, cred.externalID); msg != "" {
		if s.opts.KeepRejectedCreates {
			s.registries = append(s.registries, newRegEntry(Registry{ID: newUUID(), URL: strings.TrimSpace(*p.URL), Alias: p.UserDefinedAlias,
				RoleARN: cred.role, ExternalID: cred.externalID, Type: registryTypeECR, State: "error", CreatedAt: time.Now().UTC()}, p.URLUniquenessKey))
		}
		return errReply(rc, http.StatusBadRequest, msg)
	}
	e := newRegEntry(Registry{
		ID:                 newUUID(),
		URL:                strings.TrimSpace(*p.URL),
		Alias:              p.UserDefinedAlias,
		RoleARN:            cred.role,
		ExternalID:         cred.externalID,
		GovUsingCommercial: cred.govUsingCommercial,
		Type:               registryTypeECR,
		State:              registryDefaultState,
		CreatedAt:          time.Now().UTC(),
	}, p.URLUniquenessKey)
	s.registries = append(s.registries, e)
	s.stats.CreatesSucceeded++
	return reply{status: s.opts.CreateStatus, body: &models.DomainExternalRegistryResponse{Meta: rc.meta(), Resources: e.model(s.opts.Details)}}
}

// handleUpdateRegistry implements PATCH /container-security/entities/registries/v1?id=.
func (s *Sim) handleUpdateRegistry(rc *reqCtx, r *http.Request) reply {
	id := r.URL.Query().Get("id")
	if id == "" {
		return errReply(rc, http.StatusBadRequest, "id is required")
	}
	var p models.RegistryassessmentExternalRegistryPatchPayload
	if msg := decodeValid(r, &p); msg != "" {
		return errReply(rc, http.StatusBadRequest, msg)
	}
	if *p.Credential.Type != registryTypeECR {
		return errReply(rc, http.StatusBadRequest, fmt.Sprintf("unsupported credential type %q", *p.Credential.Type))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	_, e := s.findRegistry(id)
	if e == nil {
		return errReply(rc, http.StatusNotFound, fmt.Sprintf("registry %s not found", id))
	}
	cred, msg := s.credDetails(p.Credential.Details, e.URL)
	if msg != "" {
		return errReply(rc, http.StatusBadRequest, msg)
	}
	if msg := s.assumeRole(cred.role, cred.externalID); msg != "" {
		return errReply(rc, http.StatusBadRequest, msg)
	}
	now := time.Now().UTC()
	e.RoleARN, e.ExternalID, e.GovUsingCommercial = cred.role, cred.externalID, cred.govUsingCommercial
	// A credential that just validated is not expired, and the registry
	// waits for its next assessment (unless PatchKeepsState, or a verdict
	// that survives the credential: VerdictSurvivesResend).
	kept := s.opts.VerdictSurvivesResend && (e.Expired || verdictStates[strings.ToLower(e.State)])
	switch {
	case kept:
	case !s.opts.PatchKeepsState:
		e.Expired = false
		e.State, e.stateChangedAt = registryDefaultState, now
	default:
		e.Expired = false
	}
	e.credUpdatedAt, e.updatedAt = now, now
	if p.UserDefinedAlias != "" {
		e.Alias = p.UserDefinedAlias
	}
	// The state a PATCH asks for is an action, as PSFalcon's
	// Edit-FalconContainerRegistry sends it (-State pause|resume).
	switch p.State {
	case "":
	case "pause":
		e.State, e.stateChangedAt = "paused", now
	case "resume":
		e.State, e.stateChangedAt = registryDefaultState, now
	default:
		e.State, e.stateChangedAt = p.State, now
	}
	return reply{status: http.StatusOK, body: &models.DomainExternalRegistryResponse{Meta: rc.meta(), Resources: e.model(s.opts.Details)}}
}

// handleDeleteRegistries implements DELETE /container-security/entities/registries/v1?ids=.
// Unknown ids are ignored; the deleted registries are returned.
func (s *Sim) handleDeleteRegistries(rc *reqCtx, r *http.Request) reply {
	ids := idsParam(r.URL.Query(), "ids")
	if len(ids) == 0 {
		return errReply(rc, http.StatusBadRequest, "ids is required")
	}
	body := &models.DomainExternalRegistryListResponse{Meta: rc.meta(), Resources: []*models.DomainExternalAPIRegistry{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if i, e := s.findRegistry(id); e != nil {
			body.Resources = append(body.Resources, e.model(s.opts.Details))
			s.registries = append(s.registries[:i], s.registries[i+1:]...)
		}
	}
	return reply{status: http.StatusOK, body: body}
}

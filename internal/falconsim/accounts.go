package falconsim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/strfmt"
)

// Account is an AWS account registered with Falcon cloud security, together
// with the IAM role Falcon reads it through. Fields render as gofalcon
// v0.22.0's models.DomainCloudAWSAccountV1 (in parentheses).
type Account struct {
	ID   string // 12 digits (account_id)
	Name string // (account_name)
	Type string // "commercial" | "govcloud" (account_type)
	// OrganizationID is the AWS Organization CSPM registered the account
	// with (organization_id), "" for a standalone account; IsMaster marks
	// the organization's management account (is_master). Organization
	// generates an organization's accounts as CSPM registers them.
	OrganizationID string
	IsMaster       bool
	RoleARN        string // (resource_metadata.iam_role_arn)
	ExternalID     string // (resource_metadata.external_id)
	// IntermediateRoleARN is CrowdStrike's role CSPM assumes RoleARN from
	// (resource_metadata.intermediate_role_arn); "" leaves it out.
	IntermediateRoleARN string
	// RegistrationStatus is CSPM's registration_status; "" renders
	// StatusOperational. With StatusProvisioned CSPM has registered the
	// account but its role is not deployed yet: AddAccounts creates no
	// role for it.
	RegistrationStatus string
	Regions            []string // (active_regions)
	// TrustsRegistryAssessment says whether the role's trust policy allows
	// the registry-assessment principal (RegistryAssessmentPrincipal).
	TrustsRegistryAssessment bool
	// Features are the features of product cspm the account is registered
	// with (products); nil: iom, which CrowdStrike's tools always enable.
	Features []string
	// RegisteredAt is when CSPM registered the account (created_at); zero:
	// DefaultRegisteredAge before it was added, as most of a tenant's
	// accounts were. Set it to the present for an account that just joined.
	RegisteredAt time.Time
}

// DefaultRegisteredAge is how long ago CSPM registered an account added
// without RegisteredAt.
const DefaultRegisteredAge = 30 * 24 * time.Hour

// CSPM registration_status values (the words of the account-status filter
// of CSPM's account query, CrowdStrike/falconpy
// src/falconpy/_endpoint/_cloud_aws_registration.py): operational, an
// onboarded account; provisioned, registered with its role not deployed yet.
const (
	StatusOperational = "operational"
	StatusProvisioned = "provisioned"
)

// role is an IAM role the simulator can "assume".
type role struct {
	externalID string
	trusts     bool
}

type accountEntry struct {
	Account
	seq     int64
	created time.Time
	updated time.Time
}

const (
	accountsDefaultLimit = 100
	accountsMaxIDs       = 100
)

// AddAccounts registers (or replaces) accounts. Each account's role
// (RoleARN, ExternalID, TrustsRegistryAssessment) is registered too, unless
// a role with that ARN already exists or the account is StatusProvisioned.
func (s *Sim) AddAccounts(accts ...Account) {
	now := time.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range accts {
		a.Regions = slices.Clone(a.Regions)
		if a.Type == "" {
			a.Type = "commercial"
		}
		e, ok := s.accounts[a.ID]
		if !ok {
			s.seq++
			e = &accountEntry{seq: s.seq, created: now.Add(-DefaultRegisteredAge)}
			s.accounts[a.ID] = e
		}
		if !a.RegisteredAt.IsZero() {
			e.created = a.RegisteredAt.UTC()
		}
		e.Account, e.updated = a, now
		if _, exists := s.roles[a.RoleARN]; a.RoleARN != "" && !exists && !strings.EqualFold(a.RegistrationStatus, StatusProvisioned) {
			s.roles[a.RoleARN] = role{externalID: a.ExternalID, trusts: a.TrustsRegistryAssessment}
		}
	}
}

// Accounts returns the registered accounts, by account ID.
func (s *Sim) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.accounts))
	for _, id := range s.sortedAccountIDs() {
		a := s.accounts[id].Account
		a.Regions = slices.Clone(a.Regions)
		out = append(out, a)
	}
	return out
}

// AddRole registers or replaces an IAM role that registry credential
// validation can assume.
func (s *Sim) AddRole(arn, externalID string, trustsRegistryAssessment bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.roles[arn] = role{externalID: externalID, trusts: trustsRegistryAssessment}
}

// sortedAccountIDs returns account IDs in ascending order. Caller holds mu.
func (s *Sim) sortedAccountIDs() []string {
	ids := make([]string, 0, len(s.accounts))
	for id := range s.accounts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// handleQueryAccounts implements GET /cloud-security-registration-aws/queries/account/v1.
func (s *Sim) handleQueryAccounts(rc *reqCtx, r *http.Request) reply {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", accountsDefaultLimit)
	if err != nil {
		return errReply(rc, http.StatusBadRequest, err.Error())
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		return errReply(rc, http.StatusBadRequest, err.Error())
	}
	if limit == 0 {
		limit = accountsDefaultLimit
	}
	products, features := q["products"], q["features"]
	if !s.opts.LenientAccountQuery && (len(products) == 0 || len(features) == 0) {
		return errReply(rc, http.StatusBadRequest, "products and features are required")
	}
	s.mu.Lock()
	var ids []string
	for _, id := range s.sortedAccountIDs() {
		if s.accounts[id].registeredFor(products, features) {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	return reply{status: http.StatusOK, body: &models.RestAWSAccountQueryResponseExtV1{
		Meta:      rc.pagedMeta(limit, offset, len(ids)),
		Resources: page(ids, offset, min(limit, s.opts.AccountPageMax)),
	}}
}

// handleGetAccounts implements GET /cloud-security-registration-aws/entities/account/v1.
func (s *Sim) handleGetAccounts(rc *reqCtx, r *http.Request) reply {
	ids := idsParam(r.URL.Query(), "ids")
	if len(ids) == 0 {
		return errReply(rc, http.StatusBadRequest, "ids is required")
	}
	if len(ids) > accountsMaxIDs {
		return errReply(rc, http.StatusBadRequest, fmt.Sprintf("too many ids: %d, maximum is %d", len(ids), accountsMaxIDs))
	}
	body := &models.RestAWSAccountCreateResponseExtV1{Meta: rc.meta(), Resources: []*models.DomainCloudAWSAccountV1{}}
	s.mu.Lock()
	for _, id := range ids {
		if e, ok := s.accounts[id]; ok {
			body.Resources = append(body.Resources, e.model())
			continue
		}
		ae := apiErr(http.StatusNotFound, fmt.Sprintf("account %s not found", id))
		ae.ID = id
		body.Errors = append(body.Errors, ae)
	}
	s.mu.Unlock()
	status := http.StatusOK
	if len(body.Errors) > 0 {
		status = http.StatusMultiStatus
	}
	return reply{status: status, body: body}
}

// features are the cspm features the account is registered with.
func (e *accountEntry) features() []string {
	if e.Features == nil {
		return []string{"iom"}
	}
	return e.Features
}

// registeredFor reports whether the account matches a query for products
// and features (none asked: every account): it is registered with product
// cspm and one of the features, when cspm is among the products asked.
func (e *accountEntry) registeredFor(products, features []string) bool {
	if len(products) == 0 && len(features) == 0 {
		return true
	}
	return slices.Contains(products, "cspm") &&
		(len(features) == 0 || slices.ContainsFunc(e.features(), func(f string) bool { return slices.Contains(features, f) }))
}

// model renders the account as gofalcon's DomainCloudAWSAccountV1.
func (e *accountEntry) model() *models.DomainCloudAWSAccountV1 {
	created, updated := strfmt.DateTime(e.created), strfmt.DateTime(e.updated)
	deleted := strfmt.DateTime(time.Time{}.UTC())
	regions := append([]string{}, e.Regions...)
	status := e.RegistrationStatus
	if status == "" {
		status = StatusOperational
	}
	return &models.DomainCloudAWSAccountV1{
		CreatedAt:      &created,
		DeletedAt:      &deleted,
		ID:             ptr(e.seq),
		UpdatedAt:      &updated,
		AccountID:      e.ID,
		AccountName:    e.Name,
		AccountType:    e.Type,
		OrganizationID: e.OrganizationID,
		IsMaster:       e.IsMaster,
		ActiveRegions:  regions,
		IamServicePermissionsStatus: []*models.DomainProductPermission{{
			Product: ptr("cspm"),
			Features: []*models.DomainFeaturePermission{{
				Feature:     ptr("iom"),
				Permissions: []*models.DomainPermission{},
			}},
		}},
		InventoryFilter: []*models.DomainAWSInventoryFilterSetting{{
			AccountID: ptr(e.ID),
			Regions:   append([]string{}, e.Regions...),
			Service:   ptr("all"),
		}},
		IsCustomRolename: ptr(false),
		Products: []*models.DomainProductFeatures{{
			Product:  ptr("cspm"),
			Features: append([]string{}, e.features()...),
		}},
		ResourceMetadata: &models.DomainAWSAccountResourceMetadata{
			CreatedAt:           &created,
			DeletedAt:           &deleted,
			ID:                  ptr(e.seq),
			UpdatedAt:           &updated,
			IamRoleArn:          e.RoleARN,
			ExternalID:          e.ExternalID,
			IntermediateRoleArn: e.IntermediateRoleARN,
		},
		CspmEnabled:        true,
		RegistrationStatus: status,
		TargetOus:          []string{},
		Conditions:         []*models.DomainCloudCondition{},
		Status:             []*models.DomainProductFeaturesStatus{},
	}
}

// RegenerateExternalID gives a standalone account a new external ID, as
// CSPM does when asked to regenerate it; the account's role accepts only the
// new one from then on. It returns the new ID ("" for an unknown account).
func (s *Sim) RegenerateExternalID(accountID string) string {
	return s.regenerate(func(a *accountEntry) bool { return a.ID == accountID })
}

// RegenerateOrganizationExternalID gives an AWS Organization's registration
// a new external ID: every account of the organization changes at once, as
// they share one registration, and every member's role accepts only the new
// ID from then on (its StackSet redeployed). It returns the new ID ("" when
// no account belongs to organizationID).
func (s *Sim) RegenerateOrganizationExternalID(organizationID string) string {
	return s.regenerate(func(a *accountEntry) bool { return organizationID != "" && a.OrganizationID == organizationID })
}

// regenerate gives every account that matches one new external ID, in CSPM
// and in its role.
func (s *Sim) regenerate(match func(*accountEntry) bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, now := newUUID(), time.Now().UTC()
	changed := false
	for _, e := range s.accounts {
		if !match(e) {
			continue
		}
		changed = true
		e.ExternalID, e.updated = id, now
		if r, ok := s.roles[e.RoleARN]; ok {
			r.externalID = id
			s.roles[e.RoleARN] = r
		}
	}
	if !changed {
		return ""
	}
	return id
}

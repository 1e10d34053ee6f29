package falconsim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowdstrike/gofalcon/falcon/models"
	"github.com/go-openapi/strfmt"
)

// Falcon's cloud asset inventory (cloud security assets), as far as ECR
// repositories go: the ID query with an FQL filter and cursor pagination,
// and the entity reads (GET with repeated ids, POST with a body).

// ResourceTypeECRRepository is the inventory's resource_type of an ECR
// repository.
const ResourceTypeECRRepository = "AWS::ECR::Repository"

// Resource is an asset in the cloud asset inventory.
type Resource struct {
	ID            string // generated when empty
	AccountID     string
	Region        string
	ResourceType  string // e.g. ResourceTypeECRRepository
	CloudProvider string // "aws" when empty
	ResourceID    string // e.g. the repository name
}

// Live-service limits of the asset endpoints (gofalcon v0.22.0's
// documentation of cloud-security-assets-queries and -entities).
const (
	// DefaultAssetPageMax: a query asked for more IDs is silently served
	// this many.
	DefaultAssetPageMax = 1000
	// assetsDefaultLimit is served when limit is absent or 0.
	assetsDefaultLimit = 500
	// assetsMaxOffset: offset paging stops here; past it, only the
	// after cursor reaches.
	assetsMaxOffset    = 10000
	assetsMaxGetIDs    = 100
	assetsMaxPostIDs   = 500
	assetsCursorPrefix = "falconsim-after:"
)

// AddResource puts r in the inventory and returns it with its ID and cloud
// provider filled in.
func (s *Sim) AddResource(r Resource) Resource {
	if r.ID == "" {
		r.ID = newUUID()
	}
	if r.CloudProvider == "" {
		r.CloudProvider = "aws"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assets = append(s.assets, r)
	return r
}

// AddRepository puts an ECR repository of accountID in region in the
// inventory, as Falcon lists it once its cloud scan has seen it.
func (s *Sim) AddRepository(accountID, region, name string) Resource {
	return s.AddResource(Resource{AccountID: accountID, Region: region, ResourceType: ResourceTypeECRRepository, ResourceID: name})
}

// RemoveRepositories drops every ECR repository of accountID in region from
// the inventory (they were deleted, and the inventory caught up). It
// returns how many were dropped.
func (s *Sim) RemoveRepositories(accountID, region string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.assets)
	s.assets = slices.DeleteFunc(s.assets, func(r Resource) bool {
		return r.ResourceType == ResourceTypeECRRepository && r.AccountID == accountID && r.Region == region
	})
	return n - len(s.assets)
}

// Resources returns a snapshot of the inventory, in the order added.
func (s *Sim) Resources() []Resource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.assets)
}

// fqlTerm is one field:'value' term of an FQL filter.
var fqlTerm = regexp.MustCompile(`^([a-z_]+):(?:'([^']*)'|"([^"]*)")$`)

// assetFilter reads the subset of FQL the simulator understands: terms
// field:'value' (or "value") on account_id, cloud_provider, id, region and
// resource_type, joined by + (and). Anything else is a 400, as the live
// service answers an invalid filter.
func assetFilter(fql string) (func(Resource) bool, error) {
	type term struct{ field, value string }
	var terms []term
	for _, t := range strings.Split(fql, "+") {
		if t = strings.TrimSpace(t); t == "" && fql == "" {
			continue
		}
		m := fqlTerm.FindStringSubmatch(t)
		if m == nil {
			return nil, fmt.Errorf("invalid filter %q: want field:'value' terms joined by +", fql)
		}
		switch m[1] {
		case "account_id", "cloud_provider", "id", "region", "resource_type":
		default:
			return nil, fmt.Errorf("invalid filter %q: field %q is not filterable here", fql, m[1])
		}
		terms = append(terms, term{m[1], m[2] + m[3]})
	}
	return func(r Resource) bool {
		for _, t := range terms {
			var v string
			switch t.field {
			case "account_id":
				v = r.AccountID
			case "cloud_provider":
				v = r.CloudProvider
			case "id":
				v = r.ID
			case "region":
				v = r.Region
			case "resource_type":
				v = r.ResourceType
			}
			if v != t.value {
				return false
			}
		}
		return true
	}, nil
}

func assetCursor(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(assetsCursorPrefix + strconv.Itoa(offset)))
}

func assetOffset(cursor string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !strings.HasPrefix(string(b), assetsCursorPrefix) {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), assetsCursorPrefix))
	return n, err == nil && n >= 0
}

// handleQueryAssets implements GET /cloud-security-assets/queries/resources/v1:
// the IDs of the resources the filter matches, a page at a time. limit
// absent or 0 serves 500; more than the page maximum (1,000 live) serves the
// maximum, silently, echoing the limit asked. The next page is reached with
// after=meta.next (offset works only below 10,000); meta.next is empty on
// the last page.
func (s *Sim) handleQueryAssets(rc *reqCtx, r *http.Request) reply {
	q := r.URL.Query()
	limit, err := intParam(q, "limit", assetsDefaultLimit)
	if err != nil {
		return cursorErrReply(rc, http.StatusBadRequest, err.Error())
	}
	if limit == 0 {
		limit = assetsDefaultLimit
	}
	offset, err := intParam(q, "offset", 0)
	if err != nil {
		return cursorErrReply(rc, http.StatusBadRequest, err.Error())
	}
	after := q.Get("after")
	switch {
	case after != "" && q.Has("offset"):
		return cursorErrReply(rc, http.StatusBadRequest, "use only one of 'offset' and 'after'")
	case offset >= assetsMaxOffset:
		return cursorErrReply(rc, http.StatusBadRequest, fmt.Sprintf("offset %d: 'offset' can only be used below %d, use 'after'", offset, assetsMaxOffset))
	case after != "":
		var ok bool
		if offset, ok = assetOffset(after); !ok {
			return cursorErrReply(rc, http.StatusBadRequest, fmt.Sprintf("invalid 'after' token %q", after))
		}
	}
	match, err := assetFilter(q.Get("filter"))
	if err != nil {
		return cursorErrReply(rc, http.StatusBadRequest, err.Error())
	}
	var ids []string
	s.mu.Lock()
	for _, a := range s.assets {
		if match(a) {
			ids = append(ids, a.ID)
		}
	}
	s.mu.Unlock()
	served := page(ids, offset, min(limit, s.opts.AssetPageMax))
	meta := &models.RestCursorAndLimitMetaInfo{
		QueryTime: ptr(time.Since(rc.start).Seconds()), TraceID: ptr(rc.traceID), PoweredBy: "falconsim",
		Pagination: &models.RestPaging{Limit: ptr(int64(limit)), Offset: int64(offset), Total: ptr(int64(len(ids)))},
	}
	if end := offset + len(served); end < len(ids) {
		meta.Next = assetCursor(end)
	}
	return reply{status: http.StatusOK, body: &models.AssetsGetResourceIDsResponse{Meta: meta, Resources: served}}
}

// handleGetAssets implements GET /cloud-security-assets/entities/resources/v1
// (at most 100 ids, one per repeated parameter).
func (s *Sim) handleGetAssets(rc *reqCtx, r *http.Request) reply {
	return s.assetEntities(rc, idsParam(r.URL.Query(), "ids"), assetsMaxGetIDs)
}

// handlePostAssets implements POST /cloud-security-assets/entities/resources/v1
// (body {"ids": [...]}, at most 500).
func (s *Sim) handlePostAssets(rc *reqCtx, r *http.Request) reply {
	var body models.AssetsGetResourcesRequest
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		return cursorErrReply(rc, http.StatusBadRequest, "invalid request body: "+err.Error())
	}
	return s.assetEntities(rc, idsParam(map[string][]string{"ids": body.Ids}, "ids"), assetsMaxPostIDs)
}

// assetEntities answers an entity read: the resources known among ids
// (unknown ones are left out).
func (s *Sim) assetEntities(rc *reqCtx, ids []string, maxIDs int) reply {
	switch {
	case len(ids) == 0:
		return cursorErrReply(rc, http.StatusBadRequest, "ids is required")
	case len(ids) > maxIDs:
		return cursorErrReply(rc, http.StatusBadRequest, fmt.Sprintf("too many ids: %d, maximum is %d", len(ids), maxIDs))
	}
	byID := map[string]Resource{}
	s.mu.Lock()
	for _, a := range s.assets {
		byID[a.ID] = a
	}
	names := map[string]string{}
	for id, e := range s.accounts {
		names[id] = e.Name
	}
	s.mu.Unlock()
	out := []*models.ResourcesCloudResource{}
	for _, id := range ids {
		if a, ok := byID[id]; ok {
			out = append(out, a.model(names[a.AccountID]))
		}
	}
	return reply{status: http.StatusOK, body: &models.AssetsGetResourcesResponse{
		Meta:      &models.RestCursorMetaInfo{QueryTime: ptr(time.Since(rc.start).Seconds()), TraceID: ptr(rc.traceID), PoweredBy: "falconsim"},
		Resources: out,
	}}
}

// model renders the resource as the inventory returns it: far more than
// account and region (configuration, tags, timestamps), as the live
// records are.
func (a Resource) model(accountName string) *models.ResourcesCloudResource {
	seen := strfmt.DateTime(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	arn := fmt.Sprintf("arn:aws:ecr:%s:%s:repository/%s", a.Region, a.AccountID, a.ResourceID)
	return &models.ResourcesCloudResource{
		ID: a.ID, AccountID: a.AccountID, AccountName: accountName, Region: a.Region,
		ResourceType: a.ResourceType, ResourceTypeName: "Repository", CloudProvider: a.CloudProvider,
		ResourceID: a.ResourceID, ResourceName: a.ResourceID, Service: "ECR", ServiceCategory: "Containers",
		Active: true, Arn: arn, FirstSeen: seen, CreationTime: seen, UpdatedAt: seen,
		Configuration: map[string]any{
			"repositoryArn": arn, "repositoryName": a.ResourceID,
			"repositoryUri":              fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", a.AccountID, a.Region, a.ResourceID),
			"imageTagMutability":         "MUTABLE",
			"imageScanningConfiguration": map[string]any{"scanOnPush": false},
			"encryptionConfiguration":    map[string]any{"encryptionType": "AES256"},
		},
		Tags:          map[string]string{"team": "platform"},
		CloudGroups:   []*models.DomainCloudScope{},
		CloudLabels:   []*models.ClassificationLabel{},
		Groups:        []string{},
		Relationships: []*models.ResourcesRelationship{},
		Zones:         []models.String{},
	}
}

// cursorErrReply is an error body of the asset endpoints
// (RestCursorResponseFields, or MsaReplyMetaOnly for 403/429: the same shape).
func cursorErrReply(rc *reqCtx, status int, msg string) reply {
	return reply{status: status, body: &models.RestCursorResponseFields{
		Meta:   &models.RestCursorMetaInfo{QueryTime: ptr(time.Since(rc.start).Seconds()), TraceID: ptr(rc.traceID), PoweredBy: "falconsim"},
		Errors: []*models.MsaAPIError{apiErr(status, msg)},
	}}
}

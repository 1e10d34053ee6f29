package falcon

import (
	"context"
	"fmt"
)

// cursorPage is one page of a query endpoint paginated by cursor (the cloud
// asset inventory): the next page is asked for with after=next.
type cursorPage struct {
	ids   []string
	next  string // meta.next; "" on the last page
	total *int64 // meta.pagination.total, when the endpoint sends it
}

// fetchCursor reads the page a cursor points to ("" for the first).
type fetchCursor func(ctx context.Context, after string) (cursorPage, error)

// cursorAll reads every ID of a cursor-paginated query endpoint and returns
// them only if the listing is complete, as listAll does for offset paging.
// Pages may serve fewer IDs than asked, so only the cursor says where the
// listing goes on; and it must lead to the end: a cursor that repeats, a
// page that adds no new ID while the cursor goes on, a total that changes
// while paging, or a cursor that ends before the distinct IDs reach
// meta.pagination.total (or goes past it) is an incomplete listing. Without
// a total, the listing is complete when the cursor ends. An incomplete
// listing is read again once, from the start; if it still does not add up,
// the listing fails (fail closed). A failed page fails the listing at once.
func cursorAll(ctx context.Context, endpoint string, fetch fetchCursor) ([]string, error) {
	var problem string
	for range 2 {
		ids, p, err := cursorOnce(ctx, fetch)
		if err != nil {
			return nil, err
		}
		if p == "" {
			return ids, nil
		}
		problem = p
	}
	return nil, fmt.Errorf("incomplete listing from %s: %s, read twice; nothing is written on a partial listing", endpoint, problem)
}

// cursorOnce follows the cursor from the first page to the end; problem
// says why what it read is not a complete listing.
func cursorOnce(ctx context.Context, fetch fetchCursor) (ids []string, problem string, err error) {
	var (
		seen    = map[string]bool{}
		cursors = map[string]bool{}
		total   *int64
		after   string
	)
	for n := 1; ; n++ {
		p, err := fetch(ctx, after)
		if err != nil {
			return nil, "", err
		}
		if n == 1 {
			total = p.total
		} else if t := p.total; (t == nil) != (total == nil) || (t != nil && *t != *total) {
			return nil, fmt.Sprintf("the total changed from %s to %s while paging", totalText(total), totalText(t)), nil
		}
		added := 0
		for _, id := range p.ids {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
				added++
			}
		}
		switch {
		case total != nil && int64(len(ids)) > *total:
			return nil, fmt.Sprintf("%d distinct ids for a reported total of %d", len(ids), *total), nil
		case total != nil && int64(len(ids)) == *total:
			return ids, "", nil // every ID is here, whether or not a cursor follows
		case p.next == "" && total != nil:
			return nil, fmt.Sprintf("the cursor ended on page %d with %d distinct ids of a reported total of %d", n, len(ids), *total), nil
		case p.next == "":
			return ids, "", nil
		case cursors[p.next]:
			return nil, fmt.Sprintf("the cursor of page %d repeats an earlier one", n), nil
		case added == 0:
			return nil, fmt.Sprintf("page %d added no new id, yet the cursor went on", n), nil
		}
		cursors[p.next] = true
		after = p.next
	}
}

func totalText(t *int64) string {
	if t == nil {
		return "none"
	}
	return fmt.Sprint(*t)
}

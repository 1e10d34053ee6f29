package falcon

import (
	"context"
	"slices"

	"golang.org/x/sync/errgroup"
)

// page is one page of a query endpoint: IDs and, when the API says, the total.
type page struct {
	ids   []string
	total int64 // -1 when the response has no pagination total
}

// allIDs reads every page of a query endpoint. With a total from the first
// page the rest are fetched in parallel; without one, page by page until a
// short page.
func allIDs(ctx context.Context, limit int64, concurrency int, fetch func(ctx context.Context, offset int64) (page, error)) ([]string, error) {
	first, err := fetch(ctx, 0)
	if err != nil {
		return nil, err
	}
	ids := first.ids
	if first.total < 0 {
		for p := first; int64(len(p.ids)) == limit; ids = append(ids, p.ids...) { // a full page: maybe more
			if p, err = fetch(ctx, int64(len(ids))); err != nil {
				return nil, err
			}
		}
		return dedupe(ids), nil
	}
	var offsets []int64
	for off := int64(len(first.ids)); off < first.total && len(first.ids) > 0; off += limit {
		offsets = append(offsets, off)
	}
	pages := make([][]string, len(offsets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, off := range offsets {
		g.Go(func() error {
			p, err := fetch(gctx, off)
			pages[i] = p.ids
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, p := range pages {
		ids = append(ids, p...)
	}
	return dedupe(ids), nil
}

// dedupe drops repeats (a page boundary can shift while paging).
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	return slices.DeleteFunc(ids, func(id string) bool {
		if seen[id] {
			return true
		}
		seen[id] = true
		return false
	})
}

// inBatches calls get for consecutive batches of at most size IDs, in
// parallel, and concatenates the results in order.
func inBatches[T any](ctx context.Context, ids []string, size, concurrency int, get func(ctx context.Context, batch []string) ([]T, error)) ([]T, error) {
	var batches [][]string
	for b := range slices.Chunk(ids, size) {
		batches = append(batches, b)
	}
	results := make([][]T, len(batches))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, b := range batches {
		g.Go(func() error {
			var err error
			results[i], err = get(gctx, b)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(results...), nil
}

package falcon

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/crowdstrike/gofalcon/falcon/models"
	"golang.org/x/sync/errgroup"
)

// page is one page of a query endpoint.
type page struct {
	ids   []string
	total int64 // meta.pagination.total
	limit int64 // meta.pagination.limit; 0 when absent
}

// pageOf reads a query answer's IDs and pagination. A page without a total
// cannot be checked for completeness, so it is malformed.
func pageOf(endpoint string, ids []string, meta *models.MsaMetaInfo) (page, error) {
	if ids == nil {
		return page{}, malformed(endpoint, "no resources")
	}
	if meta == nil || meta.Pagination == nil || meta.Pagination.Total == nil {
		return page{}, malformed(endpoint, "no meta.pagination.total: the listing cannot be checked for completeness")
	}
	p := page{ids: ids, total: *meta.Pagination.Total}
	if l := meta.Pagination.Limit; l != nil && *l > 0 {
		p.limit = int64(*l)
	}
	return p, nil
}

// fetchPage reads the page of a query endpoint that starts at offset.
type fetchPage func(ctx context.Context, offset int64) (page, error)

// listAll reads every ID of a query endpoint and returns them only if the
// listing is complete: the distinct IDs number exactly the total the
// endpoint reports. A server may serve fewer IDs than asked (the live API
// caps limit silently per endpoint), so offsets step by what the first page
// served, not by what was asked; the other pages are read in parallel. A
// listing that does not add up is read again once, page by page, each
// offset stepping by what the previous page served; if it still does not
// add up, the listing fails (fail closed: planning on a partial listing
// would re-create registries or prune accounts that are still there).
func listAll(ctx context.Context, endpoint string, concurrency int, fetch fetchPage) ([]string, error) {
	first, err := fetch(ctx, 0)
	if err != nil {
		return nil, err
	}
	l, err := parallelPages(ctx, first, concurrency, fetch)
	if err != nil {
		return nil, err
	}
	if complete(l, first.total) == nil {
		return l.ids, nil
	}
	if l, err = sequentialPages(ctx, fetch); err != nil {
		return nil, err
	}
	if err := complete(l, l.total); err != nil {
		return nil, fmt.Errorf("incomplete listing from %s: %w, read twice; nothing is written on a partial listing", endpoint, err)
	}
	return l.ids, nil
}

// listing is what a read of all pages found: distinct IDs, the total the
// pages reported, and whether they all reported the same one.
type listing struct {
	ids     []string
	total   int64
	changed string // "": every page reported total
}

func complete(l listing, total int64) error {
	switch {
	case l.changed != "":
		return errors.New(l.changed)
	case int64(len(l.ids)) != total:
		return fmt.Errorf("%d distinct ids for a reported total of %d", len(l.ids), total)
	}
	return nil
}

// parallelPages reads the pages after first, stepping by what first served
// (and by meta.pagination.limit when that is smaller).
func parallelPages(ctx context.Context, first page, concurrency int, fetch fetchPage) (listing, error) {
	step := int64(len(first.ids))
	if first.limit > 0 {
		step = min(step, first.limit)
	}
	var offsets []int64
	for off := step; step > 0 && off < first.total; off += step {
		offsets = append(offsets, off)
	}
	pages := make([]page, len(offsets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, off := range offsets {
		goSafely(g, func() (err error) {
			pages[i], err = fetch(gctx, off)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return listing{}, err
	}
	l := listing{ids: slices.Clone(first.ids), total: first.total}
	for _, p := range pages {
		l.ids = append(l.ids, p.ids...)
		l.noteTotal(p.total)
	}
	l.ids = dedupe(l.ids)
	return l, nil
}

// sequentialPages reads page after page, each offset advanced by what the
// previous page served, until the first page's total is reached or a page
// is empty.
func sequentialPages(ctx context.Context, fetch fetchPage) (listing, error) {
	var l listing
	for offset := int64(0); ; {
		p, err := fetch(ctx, offset)
		if err != nil {
			return listing{}, err
		}
		if offset == 0 {
			l.total = p.total
		}
		l.noteTotal(p.total)
		l.ids = append(l.ids, p.ids...)
		offset += int64(len(p.ids))
		if len(p.ids) == 0 || offset >= l.total {
			l.ids = dedupe(l.ids)
			return l, nil
		}
	}
}

func (l *listing) noteTotal(total int64) {
	if total != l.total && l.changed == "" {
		l.changed = fmt.Sprintf("the total changed from %d to %d while paging", l.total, total)
	}
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

// entities reads the entities of ids, batchSize a call, in parallel; the
// ones the answers leave out (a 207, an entity deleted meanwhile) are asked
// for once more. It returns what came back and the ids still missing.
func entities[T any](ctx context.Context, c *Client, ids []string, get func(context.Context, []string) ([]T, error), id func(T) string) ([]T, []string, error) {
	got, err := inBatches(ctx, ids, batchSize, c.concurrency, get)
	if err != nil {
		return nil, nil, err
	}
	missing := missingIDs(ids, got, id)
	if len(missing) == 0 {
		return got, nil, nil
	}
	again, err := inBatches(ctx, missing, batchSize, c.concurrency, get)
	if err != nil {
		return nil, nil, err
	}
	return append(got, again...), missingIDs(missing, again, id), nil
}

func missingIDs[T any](ids []string, got []T, id func(T) string) []string {
	have := make(map[string]bool, len(got))
	for _, x := range got {
		have[id(x)] = true
	}
	return slices.DeleteFunc(slices.Clone(ids), func(i string) bool { return have[i] })
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
		goSafely(g, func() (err error) {
			results[i], err = get(gctx, b)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return slices.Concat(results...), nil
}

// goSafely runs fn in g with a panic turned into g's error: a panic in a
// listing goroutine would otherwise end the process before the run could
// report, or answer CloudFormation.
func goSafely(g *errgroup.Group, fn func() error) {
	g.Go(func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error while listing: %v", p)
			}
		}()
		return fn()
	})
}

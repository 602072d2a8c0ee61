package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
)

// TestScanHistory: only the named sources, event times from Since, events
// ingested before IngestedBefore; Limit keeps the newest; each event comes
// back whole.
func TestScanHistory(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	evs := testEvents(0, 300) // every third cloudtrail, about 8 ms apart
	if _, err := s.InsertEvents(ctx, evs, false); err != nil {
		t.Fatal(err)
	}
	scan := func(q HistoryQuery) []event.Event {
		t.Helper()
		var got []event.Event
		if err := s.ScanHistory(ctx, q, func(e event.Event) error {
			got = append(got, e)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	// want lists the cloudtrail events i with from <= i < to, newest first.
	want := func(from, to int) []string {
		var ids []string
		for i := to - 1; i >= from; i-- {
			if evs[i].Source == "cloudtrail" {
				ids = append(ids, evs[i].EventID)
			}
		}
		return ids
	}
	// ids lists the events' ids newest first, as want does.
	ids := func(es []event.Event) []string {
		out := idList(es)
		slices.SortFunc(out, func(a, b string) int { return cmp.Compare(num(b), num(a)) })
		return out
	}
	ct := []string{"cloudtrail"}

	all := scan(HistoryQuery{Sources: ct})
	if got := ids(all); !reflect.DeepEqual(got, want(0, 300)) {
		t.Fatalf("all cloudtrail: %v", got)
	}
	i := slices.IndexFunc(all, func(e event.Event) bool { return e.EventID == evs[297].EventID })
	if !reflect.DeepEqual(all[i], evs[297]) {
		t.Errorf("event changed on the way:\n got %+v\nwant %+v", all[i], evs[297])
	}
	if got := ids(scan(HistoryQuery{Sources: ct, Since: evs[150].Time})); !reflect.DeepEqual(got, want(150, 300)) {
		t.Errorf("since event 150: %v", got)
	}
	if got := ids(scan(HistoryQuery{Sources: ct, IngestedBefore: evs[100].IngestedAt})); !reflect.DeepEqual(got, want(0, 100)) {
		t.Errorf("ingested before event 100: %v", got)
	}
	if got := ids(scan(HistoryQuery{Sources: ct, Limit: 10})); !reflect.DeepEqual(got, want(0, 300)[:10]) {
		t.Errorf("limit 10: %v", got)
	}
	if got := scan(HistoryQuery{Sources: []string{"cloudtrail", "json"}}); len(got) != 200 {
		t.Errorf("two sources: %d events, want 200", len(got))
	}
	if got := scan(HistoryQuery{}); len(got) != 0 {
		t.Errorf("no sources: %d events", len(got))
	}

	// Ties: the limit cuts among events of one time by event id.
	tied := testEvents(1000, 6)
	for i := range tied {
		tied[i].Source, tied[i].Time = "tied", testBase.Add(time.Hour)
	}
	if _, err := s.InsertEvents(ctx, tied, false); err != nil {
		t.Fatal(err)
	}
	got := scan(HistoryQuery{Sources: []string{"tied"}, Limit: 4})
	slices.SortFunc(got, func(a, b event.Event) int { return strings.Compare(a.EventID, b.EventID) })
	if g := fmt.Sprint(idList(got)); g != "[evt-1002 evt-1003 evt-1004 evt-1005]" {
		t.Errorf("limit 4 of 6 tied events: %s", g)
	}

	stop := errors.New("stop")
	n := 0
	err := s.ScanHistory(ctx, HistoryQuery{Sources: ct}, func(event.Event) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn error: %v after %d events", err, n)
	}
}

func idList(es []event.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.EventID)
	}
	return out
}

// num is the number of a test event id, evt-<n>.
func num(id string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(id, "evt-"))
	return n
}

// TestScanHistoryTimeout: a context that ends stops the read with its
// error.
func TestScanHistoryTimeout(t *testing.T) {
	s := openTest(t)
	if _, err := s.InsertEvents(context.Background(), testEvents(0, 30), false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	err := s.ScanHistory(ctx, HistoryQuery{Sources: []string{"json"}}, func(event.Event) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the deadline", err)
	}
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/tripline/tripline/internal/event"
)

// MaxEventsByID caps the ids of one EventsByID call.
const MaxEventsByID = 10_000

// EventsByID returns the stored events with these ids among the sources
// given (all when empty) and with an event time in [since, until) (a zero
// bound is open), ordered by time then id, each id once even if a
// duplicate row has not been merged away yet. The time and source
// conditions let the server skip partitions. It is for a handful of
// events, such as the samples of a backtest: more than MaxEventsByID ids
// is an error. The query runs read-only.
func (s *Store) EventsByID(ctx context.Context, ids, sources []string, since, until time.Time) ([]event.Event, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if len(ids) > MaxEventsByID {
		return nil, fmt.Errorf("clickhouse: events by id: %d ids, at most %d", len(ids), MaxEventsByID)
	}
	conds, args := timeRange(nil, nil, "time", "time_nsec", since, until)
	if len(sources) > 0 {
		conds = append(conds, "source IN ?")
		args = append(args, clickhouse.GroupSet{Value: anySlice(sources)})
	}
	conds = append(conds, "event_id IN ?")
	args = append(args, clickhouse.GroupSet{Value: anySlice(ids)})
	sql := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY time, time_nsec, event_id LIMIT 1 BY event_id",
		eventsTable.names(), s.table(eventsTable.name), where(conds))
	var out []event.Event
	err := s.streamEvents(s.readContext(ctx, alertsMaxExecution, 0), "events by id", sql, args, func(e event.Event) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

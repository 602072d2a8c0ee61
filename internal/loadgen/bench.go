package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tripline/tripline/internal/client"
	"github.com/tripline/tripline/internal/event"
)

// Options configure one benchmark run against a running pipeline.
type Options struct {
	Client *client.Client
	// NATSURL is where findings are observed (core subscription).
	NATSURL string
	// Duration of the load.
	Duration time.Duration
	// Rate is the target events/s; 0 sends as fast as the pipeline takes.
	Rate int
	// Batch is the events per request; Concurrency the requests in flight.
	Batch, Concurrency int
	// AttackEvery makes one event in AttackEvery an attack.
	AttackEvery int
	// Stored returns how many events are in storage; the run waits (up to
	// DrainTimeout) until every accepted event is stored.
	Stored       func(ctx context.Context) (uint64, error)
	DrainTimeout time.Duration
	Progress     io.Writer
}

// Report is what a run measured.
type Report struct {
	Sent, Stored             uint64
	Elapsed, Drain           time.Duration
	Attacks, Findings        uint64
	P50, P99, Max            time.Duration
	IngestRate, EndToEndRate float64
}

func (r Report) String() string {
	return fmt.Sprintf(`events accepted:      %d in %s (%.0f events/s)
events stored:        %d, all stored %s after the load ended
end to end:           %.0f events/s (accepted events / time until the last was stored)
attack events:        %d, findings observed: %d
ingest-to-finding:    p50 %s  p99 %s  max %s`,
		r.Sent, r.Elapsed.Round(time.Millisecond), r.IngestRate, r.Stored, r.Drain.Round(time.Millisecond),
		r.EndToEndRate, r.Attacks, r.Findings, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Run sends load for o.Duration, then waits for storage to catch up.
func Run(ctx context.Context, o Options) (Report, error) {
	var rep Report
	nc, err := nats.Connect(o.NATSURL)
	if err != nil {
		shown := "(unparsable URL)"
		if u, perr := url.Parse(o.NATSURL); perr == nil {
			shown = u.Redacted()
		}
		return rep, fmt.Errorf("connect to %s to observe findings: %w", shown, err)
	}
	defer nc.Close()
	base, err := o.Stored(ctx)
	if err != nil {
		return rep, err
	}

	var (
		sentAt    sync.Map // attack event id -> time.Time
		mu        sync.Mutex
		latencies []time.Duration
		findings  atomic.Uint64
	)
	sub, err := nc.Subscribe("tl.findings.>", func(m *nats.Msg) {
		now := time.Now()
		f, err := event.UnmarshalFinding(m.Data)
		if err != nil || len(f.EventIDs) == 0 {
			return
		}
		if t, ok := sentAt.LoadAndDelete(f.EventIDs[0]); ok {
			findings.Add(1)
			mu.Lock()
			latencies = append(latencies, now.Sub(t.(time.Time)))
			mu.Unlock()
		}
	})
	if err != nil {
		return rep, err
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return rep, err
	}

	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var sent, attacks atomic.Uint64
	var tick <-chan time.Time
	if o.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) * float64(o.Batch) / float64(o.Rate)))
		defer t.Stop()
		tick = t.C
	}
	start := time.Now()
	errc := make(chan error, o.Concurrency)
	var wg sync.WaitGroup
	for w := range o.Concurrency {
		wg.Go(func() {
			pool := NewPool(fmt.Sprintf("bench%d-%x", w, start.UnixNano()), uint64(start.UnixNano())+uint64(w), 1000, o.AttackEvery)
			recs := make([][]byte, o.Batch)
			var attackIDs []string
			for {
				if tick != nil {
					select {
					case <-tick:
					case <-runCtx.Done():
						return
					}
				}
				if runCtx.Err() != nil {
					return
				}
				attackIDs = attackIDs[:0]
				now := time.Now()
				for i := range recs {
					var id string
					var attack bool
					recs[i], id, attack = pool.Next(now)
					if attack {
						attackIDs = append(attackIDs, id)
					}
				}
				for _, id := range attackIDs {
					sentAt.Store(id, now)
				}
				res, err := o.Client.Send(ctx, "cloudtrail", recs)
				if err == nil && res.Rejected > 0 {
					err = fmt.Errorf("the server rejected %d generated records", res.Rejected)
				}
				if err != nil {
					errc <- err
					return
				}
				sent.Add(uint64(res.Accepted))
				attacks.Add(uint64(len(attackIDs)))
			}
		})
	}
	loadDone := make(chan struct{})
	go func() {
		progress := time.NewTicker(10 * time.Second)
		defer progress.Stop()
		for {
			select {
			case <-progress.C:
				if o.Progress != nil {
					fmt.Fprintf(o.Progress, "  %s: %d events accepted\n", time.Since(start).Round(time.Second), sent.Load())
				}
			case <-loadDone:
				return
			}
		}
	}()
	wg.Wait()
	close(loadDone)
	rep.Elapsed = time.Since(start)
	select {
	case err := <-errc:
		return rep, err
	default:
	}
	rep.Sent, rep.Attacks = sent.Load(), attacks.Load()
	rep.IngestRate = float64(rep.Sent) / rep.Elapsed.Seconds()

	// Drain: wait until every accepted event is stored.
	deadline := time.Now().Add(o.DrainTimeout)
	for {
		n, err := o.Stored(ctx)
		if err != nil {
			return rep, err
		}
		rep.Stored = n - base
		if rep.Stored >= rep.Sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling an external store: no event to wait on
	}
	rep.Drain = time.Since(start) - rep.Elapsed
	rep.EndToEndRate = float64(rep.Stored) / (rep.Elapsed + rep.Drain).Seconds()
	// Findings of the last events may still be in flight.
	for wait := time.Now().Add(5 * time.Second); findings.Load() < rep.Attacks && time.Now().Before(wait); {
		time.Sleep(50 * time.Millisecond)
	}
	rep.Findings = findings.Load()
	mu.Lock()
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		rep.P50, rep.P99, rep.Max = latencies[n/2], latencies[min(n-1, n*99/100)], latencies[n-1]
	}
	mu.Unlock()
	if rep.Stored < rep.Sent {
		return rep, fmt.Errorf("only %d of %d accepted events stored after %s", rep.Stored, rep.Sent, o.DrainTimeout)
	}
	return rep, nil
}

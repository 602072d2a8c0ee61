package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/pipeline"
	"github.com/tripline/tripline/internal/slacktest"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// logBuffer collects a pipeline's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines holding s.
func (l *logBuffer) lines(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// runPipeline runs the pipeline with cfg until stop is called.
func runPipeline(t *testing.T, cfg config.Config, log *logBuffer) (url string, stop func()) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- pipeline.Run(ctx, cfg, pipeline.Options{Log: slog.New(slog.NewTextHandler(log, nil)), Ready: func(a net.Addr) { addrc <- a }})
	}()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case a := <-addrc:
		return "http://" + a.String(), stop
	case err := <-done:
		t.Fatalf("pipeline did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not start in 30s")
	}
	return "", nil
}

// TestNewTermLearnsFromClickHouse: console logins stored in ClickHouse
// before a new_term rule is loaded do not fire when they recur after it
// is; a new source IP fires once; a restart neither reads the history
// again nor changes the outcome.
func TestNewTermLearnsFromClickHouse(t *testing.T) {
	sc := storetest.Config(t)
	slack := slacktest.New(t, nil)
	rules := t.TempDir()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = ""
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.ClickHouse.Addr, cfg.ClickHouse.Database = sc.Addr, sc.Database
	cfg.Store.FlushInterval = 50 * time.Millisecond
	cfg.Slack.WebhookURL = slack.WebhookURL()
	cfg.Rules.Builtin = false
	cfg.Rules.Paths = []string{rules}

	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	const alice, bob = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob"
	post := func(url string, logins ...string) {
		(&running{url: url}).post(t, strings.Join(logins, "\n"))
	}
	login := func(id, arn, ip string, at time.Time) string {
		return fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":%q,"eventID":%q,"recipientAccountId":"123456789012","userIdentity":{"type":"IAMUser","arn":%q}}`,
			at.Format(time.RFC3339), ip, id, arn)
	}
	// alerts returns the ids of the events of the rule's findings.
	alerts := func() []string {
		fs, err := st.Alerts(t.Context(), store.AlertQuery{Since: now.Add(-time.Hour), RuleID: "test-new-ip"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.EventIDs...)
		}
		slices.Sort(ids)
		return ids
	}
	const learned = "new_term rule learned from history"

	// Before the rule: the logins are only stored.
	log1 := &logBuffer{}
	url, stop := runPipeline(t, cfg, log1)
	post(url,
		login("h-alice-1", alice, "198.51.100.1", now.Add(-50*time.Hour)),
		login("h-alice-2", alice, "198.51.100.2", now.Add(-2*time.Hour)),
		login("h-bob-3", bob, "198.51.100.3", now.Add(-time.Hour)),
	)
	eventually(t, 30*time.Second, "the history stored", func() bool {
		n, _, err := st.CountEvents(t.Context())
		return err == nil && n == 3
	})
	stop()

	// The rule is loaded: it learns the three logins.
	if err := os.WriteFile(filepath.Join(rules, "new-ip.yaml"), []byte(`id: test-new-ip
title: Console login from a new IP
severity: medium
source: cloudtrail
when: eventName == "ConsoleLogin"
new_term: {fields: [sourceIPAddress], by: [userIdentity.arn], history: 720h}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	log2 := &logBuffer{}
	url, stop = runPipeline(t, cfg, log2)
	post(url,
		login("known-alice-1", alice, "198.51.100.1", now),
		login("known-bob-3", bob, "198.51.100.3", now),
		login("new-alice-5", alice, "198.51.100.5", now),
		login("again-alice-5", alice, "198.51.100.5", now.Add(time.Second)),
	)
	// A later new term of alice's: once it fired, every match of hers
	// before it was applied (one key, one partition, in order).
	post(url, login("new-alice-6", alice, "198.51.100.6", now.Add(2*time.Second)))
	eventually(t, 60*time.Second, "the findings of the new terms", func() bool { return len(alerts()) >= 2 })
	if got := alerts(); !slices.Equal(got, []string{"new-alice-5", "new-alice-6"}) {
		t.Fatalf("findings of events %v, want new-alice-5 and new-alice-6", got)
	}
	if ls := log2.lines(learned); len(ls) != 1 || !strings.Contains(ls[0], "events=3") || !strings.Contains(ls[0], "terms=3") {
		t.Fatalf("learned log lines: %q", ls)
	}
	t.Log(log2.lines(learned)[0])
	// Every partition's checkpoint holds what it learned before the stop.
	eventually(t, 30*time.Second, "the 64 partitions' seeds checkpointed", func() bool {
		return metricValue(url, `tripline_detect_seed_partitions_total{rule="test-new-ip"}`) == "64"
	})
	stop()

	// Restarted: the partitions are seeded already.
	log3 := &logBuffer{}
	url, stop = runPipeline(t, cfg, log3)
	post(url,
		login("known-alice-2", alice, "198.51.100.2", now.Add(3*time.Second)),
		login("known-alice-5", alice, "198.51.100.5", now.Add(3*time.Second)),
		login("known-bob-3b", bob, "198.51.100.3", now.Add(3*time.Second)),
	)
	post(url, login("new-alice-7", alice, "198.51.100.7", now.Add(4*time.Second)))
	eventually(t, 60*time.Second, "the finding after the restart", func() bool { return len(alerts()) >= 3 })
	if got := alerts(); !slices.Equal(got, []string{"new-alice-5", "new-alice-6", "new-alice-7"}) {
		t.Fatalf("findings of events %v after the restart", got)
	}
	if ls := log3.lines(learned); len(ls) != 0 {
		t.Errorf("the restart read the history again: %q", ls)
	}
	// Bob's partition checkpointed its seed too: his known login did not
	// fire (his match and alice's last may be in different partitions).
	eventually(t, 30*time.Second, "the three findings posted to Slack", func() bool { return len(slack.Posts()) >= 3 })
	time.Sleep(time.Second)
	if got := alerts(); len(got) != 3 {
		t.Errorf("findings of events %v", got)
	}
	if n := len(slack.Posts()); n != 3 {
		t.Errorf("%d Slack posts, want 3", n)
	}
}

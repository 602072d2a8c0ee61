package pipeline_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/slacktest"
	"github.com/tripline/tripline/internal/store"
	"github.com/tripline/tripline/internal/store/storetest"
)

// TestStateSurvivesKill SIGKILLs `tripline run` with one threshold window
// complete (its finding raised) and another in progress, restarts it, and
// completes the second: the in-progress window is not lost (it fires with
// the matches from before and after the kill) and the finding raised
// before the kill is not raised again.
func TestStateSurvivesKill(t *testing.T) {
	bin := buildBinary(t)
	sc := storetest.Config(t)
	fs := slacktest.New(t, nil)
	rules := t.TempDir()
	if err := os.WriteFile(filepath.Join(rules, "burst.yaml"), []byte(`id: test-burst
title: AccessDenied burst
severity: medium
source: cloudtrail
when: errorCode == "AccessDenied"
threshold: {count: 4, window: 1h, by: [userIdentity.arn]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	httpAddr := freeAddr(t)
	env := append(os.Environ(),
		"TRIPLINE_DATA_DIR="+t.TempDir(),
		"TRIPLINE_NATS_LISTEN=",
		"TRIPLINE_HTTP_LISTEN="+httpAddr,
		"TRIPLINE_CLICKHOUSE_ADDR="+sc.Addr,
		"TRIPLINE_CLICKHOUSE_DATABASE="+sc.Database,
		"TRIPLINE_SLACK_WEBHOOK_URL="+fs.WebhookURL(),
		"TRIPLINE_STORE_FLUSH_INTERVAL=50ms",
		"TRIPLINE_RULES_BUILTIN=false",
		"TRIPLINE_RULES_PATHS="+rules,
	)
	logf, err := os.Create(filepath.Join(t.TempDir(), "tripline.log"))
	if err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd { return startBinary(t, bin, env, logf, httpAddr) }
	now := time.Now().UTC().Truncate(time.Second)
	post := func(arn string, from, n int) {
		var lines []string
		for i := from; i < from+n; i++ {
			lines = append(lines, fmt.Sprintf(`{"eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","errorCode":"AccessDenied","eventID":"%s-%d","userIdentity":{"arn":%q}}`,
				now.Add(time.Duration(i)*time.Second).Format(time.RFC3339), arn[len(arn)-2:], i, arn))
		}
		resp, err := http.Post("http://"+httpAddr+"/v1/ingest/cloudtrail", "application/x-ndjson", strings.NewReader(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("ingest: %d", resp.StatusCode)
		}
	}
	st, err := store.Open(t.Context(), sc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	alerts := func() []event.Finding {
		fs, err := st.Alerts(t.Context(), store.AlertQuery{Since: now.Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	const done, inProgress = "arn:aws:iam::1:role/aa", "arn:aws:iam::1:role/bb"

	first := start()
	post(done, 0, 4)       // a complete window: one finding
	post(inProgress, 0, 2) // half a window
	eventually(t, 30*time.Second, "the first finding stored", func() bool { return len(alerts()) == 1 })
	// The in-progress matches may be in a checkpoint or still
	// unacknowledged when the process dies: either way the restart must
	// count them once.
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	second := start()
	defer func() {
		_ = second.Process.Signal(os.Interrupt)
		_ = second.Wait()
	}()
	post(inProgress, 2, 2) // completes the window begun before the kill
	eventually(t, 60*time.Second, "the in-progress window fired after the restart", func() bool { return len(alerts()) >= 2 })
	got := alerts()
	keys := map[string]int{}
	for _, f := range got {
		keys[f.GroupKey]++
		if f.Count != 4 {
			t.Errorf("finding %s counts %d, want 4", f.GroupKey, f.Count)
		}
	}
	if len(got) != 2 || keys[done] != 1 || keys[inProgress] != 1 {
		t.Fatalf("findings by key %v, want one each", keys)
	}
	eventually(t, 30*time.Second, "both findings posted to Slack", func() bool { return len(fs.Posts()) >= 2 })
	if n := len(fs.Posts()); n != 2 {
		t.Fatalf("%d Slack posts, want 2 (no re-fire after the restart)", n)
	}
}

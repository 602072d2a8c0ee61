package pipeline_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/config"
	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/store"
)

// TestHotReload edits rule files under a running pipeline: the watcher
// reloads them; a threshold rule whose aggregation did not change keeps
// its half-counted window (3 matches before the edit and 2 after fire
// it, under the new summary); a changed stateless rule fires on its new
// condition and not on its old one; a rule that no longer compiles keeps
// its previous version running; every event posted is stored; findings
// carry their rule's version.
func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		// Written aside and renamed in, as editors and ConfigMaps do.
		tmp := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	burst := func(summary string) string {
		return "id: t-burst\ntitle: Denied burst\nseverity: medium\nsource: cloudtrail\nwhen: errorCode == \"AccessDenied\"\n" +
			"threshold: {count: 5, window: 1h, by: [userIdentity.arn]}\nsummary: \"" + summary + "\"\n"
	}
	trail := func(name, when string) string {
		return "id: t-trail\ntitle: " + name + "\nseverity: high\nsource: cloudtrail\nwhen: " + when + "\n"
	}
	write("burst.yaml", burst("v1 {{ group.key }}"))
	write("trail.yaml", trail("Trail v1", `eventName == "StopLogging"`))
	r := startWith(t, "webhook", func(c *config.Config) {
		c.Rules.Paths = []string{dir}
		c.Rules.Builtin = false
		c.Rules.WatchInterval = 50 * time.Millisecond
	})
	now := time.Now().UTC().Truncate(time.Second)
	n := 0
	post := func(name, errorCode string) {
		t.Helper()
		n++
		r.post(t, fmt.Sprintf(`{"eventVersion":"1.08","eventTime":%q,"eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","errorCode":%q,"eventID":"e-%d","recipientAccountId":"123456789012","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::123456789012:assumed-role/fn/fn"}}`,
			now.Add(time.Duration(n)*time.Second).Format(time.RFC3339), name, errorCode, n))
	}
	metric := func(name string) string { return metricValue(r.url, name) }
	alerts := func() []event.Finding {
		as, err := r.store.Alerts(t.Context(), store.AlertQuery{Since: now.Add(-time.Hour), Until: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}

	for range 3 {
		post("ListRoles", "AccessDenied")
	}
	eventually(t, 20*time.Second, "the 3 matches counted in the state stage", func() bool {
		return metric(`tripline_detect_state_keys{rule="t-burst"}`) == "1"
	})

	// Same aggregation, new summary; the trail rule changes its condition.
	write("burst.yaml", burst("v2 {{ group.key }}"))
	write("trail.yaml", trail("Trail v2", `eventName == "DeleteTrail"`))
	eventually(t, 20*time.Second, "the edited rules reloaded", func() bool { return metric("tripline_rules_generation") == "2" })

	post("ListRoles", "AccessDenied")
	post("ListRoles", "AccessDenied") // the fifth: fires only if the first three were kept
	post("StopLogging", "")           // the old condition: no finding
	post("DeleteTrail", "")           // the new one
	eventually(t, 30*time.Second, "the burst and the trail findings", func() bool { return len(alerts()) == 2 })

	// A rule that no longer compiles: reported, and its previous version
	// runs on.
	write("trail.yaml", trail("Trail v3", `eventName == `))
	resp, err := http.Post(r.url+"/v1/rules/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Generation int      `json:"generation"`
		Failed     []string `json:"failed"`
	}
	err = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusUnprocessableEntity || len(res.Failed) != 1 ||
		!strings.Contains(res.Failed[0], "trail.yaml") || res.Generation != 2 {
		t.Fatalf("reload of a broken rule: %d %+v %v", resp.StatusCode, res, err)
	}
	post("DeleteTrail", "")
	eventually(t, 30*time.Second, "the previous trail rule still firing", func() bool { return len(alerts()) == 3 })

	var burstAlert *event.Finding
	trails := 0
	for i, a := range alerts() {
		if a.RuleVersion == "" {
			t.Errorf("alert %s has no rule version", a.AlertID)
		}
		switch a.RuleID {
		case "t-burst":
			burstAlert = &alerts()[i]
		case "t-trail":
			trails++
			if a.RuleTitle != "Trail v2" || a.Event.Action != "DeleteTrail" {
				t.Errorf("trail alert: %+v", a)
			}
		}
	}
	if burstAlert == nil || burstAlert.Count != 5 || !strings.HasPrefix(burstAlert.Summary, "v2 ") || trails != 2 {
		t.Fatalf("alerts %+v", alerts())
	}
	eventually(t, 30*time.Second, "every event stored", func() bool {
		_, ids, err := r.store.CountEvents(t.Context())
		return err == nil && ids == uint64(n)
	})
}

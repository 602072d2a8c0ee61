package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	slackgotest "github.com/slack-go/slack/slacktest"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/slacktest"
)

// testFinding returns a realistic finding.
func testFinding() event.Finding {
	t0 := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	ev := event.Event{
		Time: t0, Source: "cloudtrail", EventID: "ev-1",
		Account: "123456789012", Region: "eu-west-1", Service: "lambda.amazonaws.com",
		Actor: "arn:aws:iam::123456789012:user/mallory", SrcIP: "203.0.113.7",
		Action: "UpdateFunctionCode20150331v2", Target: "arn:aws:lambda:eu-west-1:123456789012:function:payments",
		Message: "function code replaced",
	}
	return event.Finding{
		AlertID: event.AlertID("aws.lambda.code_update", "ev-1"), Time: t0, DetectedAt: t0.Add(time.Second),
		RuleID: "aws.lambda.code_update", RuleTitle: "Lambda code updated from a new address",
		Summary:  "mallory replaced the code of payments from 203.0.113.7",
		Severity: "high", Tags: []string{"attack.t1525", "aws"}, EventIDs: []string{"ev-1"}, Event: ev,
	}
}

// hostileFinding returns a finding whose event-derived text tries every
// way of pinging or linking in Slack.
func hostileFinding() event.Finding {
	f := testFinding()
	f.Summary = "deploy by <!channel> <@U024BE7LH> see <https://evil.example|click> @here"
	f.Event.Actor = "<!here> @everyone <@U024BE7LH>"
	f.Event.Message = "<!channel> & <@U024BE7LH> <https://evil.example|click> @here @channel"
	f.Event.Target = "<!subteam^S0123|@oncall> <#C0123|general>"
	return f
}

// fastRetry is a retry policy with test-sized backoff.
var fastRetry = RetryPolicy{MaxAttempts: 5, Initial: time.Millisecond, Max: 4 * time.Millisecond}

// notifierKinds builds each Slack notifier against a fake.
var notifierKinds = []struct {
	name string
	make func(fs *slacktest.Server) Notifier
}{
	{"webhook", func(fs *slacktest.Server) Notifier { return NewWebhook(fs.WebhookURL(), nil) }},
	{"bot", func(fs *slacktest.Server) Notifier { return NewBot(fs.Token, "C0ALERTS", fs.APIURL(), nil) }},
}

func TestNotifiersDeliverBlockKit(t *testing.T) {
	for _, kind := range notifierKinds {
		t.Run(kind.name, func(t *testing.T) {
			fs := slacktest.New(t, nil)
			f := testFinding()
			if err := kind.make(fs).Notify(t.Context(), f); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			posts := fs.Posts()
			if len(posts) != 1 {
				t.Fatalf("got %d posts, want 1", len(posts))
			}
			p := posts[0]
			if kind.name == "bot" && p.Channel != "C0ALERTS" {
				t.Errorf("channel = %q, want C0ALERTS", p.Channel)
			}
			if p.Text != Fallback(f) || !strings.Contains(p.Text, f.Summary) {
				t.Errorf("fallback text = %q", p.Text)
			}
			if p.Unfurl != "false" {
				t.Errorf("unfurl_links = %q, want false", p.Unfurl)
			}
			all := strings.Join(slacktest.BlockTexts(t, p.Blocks), "\n")
			for _, want := range []string{f.Summary, f.RuleID, f.Event.Actor, f.AlertID, f.Event.SrcIP, "2026-03-14T09:26:53Z", ":large_orange_circle: HIGH: " + f.RuleTitle} {
				if !strings.Contains(all, want) {
					t.Errorf("blocks lack %q:\n%s", want, all)
				}
			}
			var decoded slack.Blocks
			if err := decoded.UnmarshalJSON(p.Blocks); err != nil {
				t.Fatalf("blocks do not decode as Block Kit: %v", err)
			}
			gotTypes := make([]slack.MessageBlockType, len(decoded.BlockSet))
			for i, b := range decoded.BlockSet {
				gotTypes[i] = b.BlockType()
			}
			want := []slack.MessageBlockType{slack.MBTHeader, slack.MBTSection, slack.MBTSection, slack.MBTSection, slack.MBTContext}
			if fmt.Sprint(gotTypes) != fmt.Sprint(want) {
				t.Errorf("block types = %v, want %v", gotTypes, want)
			}
		})
	}
}

// TestBotAgainstSlacktest checks the bot path against slack-go's own fake
// server. slacktest does not record request bodies (it forwards them to a
// websocket), so the slacktest.Payload assertions use slacktest.Server instead.
func TestBotAgainstSlacktest(t *testing.T) {
	s := slackgotest.NewTestServer()
	s.Start()
	t.Cleanup(s.Stop)
	if err := NewBot("xoxb-test", "C0ALERTS", s.GetAPIURL(), nil).Notify(t.Context(), testFinding()); err != nil {
		t.Fatalf("Notify: %v", err)
	}
}

func TestNotifiersNeutralizeMentionsAndLinks(t *testing.T) {
	for _, kind := range notifierKinds {
		t.Run(kind.name, func(t *testing.T) {
			fs := slacktest.New(t, nil)
			if err := kind.make(fs).Notify(t.Context(), hostileFinding()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			posts := fs.Posts()
			if len(posts) != 1 {
				t.Fatalf("got %d posts, want 1", len(posts))
			}
			p := posts[0]
			lowerRaw := strings.ToLower(p.Raw)
			for _, bad := range []string{"<", ">", `\u003c`, `\u003e`} {
				if strings.Contains(lowerRaw, bad) {
					t.Errorf("raw slacktest.Payload contains %q:\n%s", bad, p.Raw)
				}
			}
			blocks := slacktest.Canonical(t, p.Blocks)
			for _, doc := range []struct{ name, s string }{{"blocks", blocks}, {"text", p.Text}} {
				if strings.ContainsAny(doc.s, "<>") {
					t.Errorf("%s contain < or >:\n%s", doc.name, doc.s)
				}
				if m := activeMention(doc.s); m != "" {
					t.Errorf("%s contain active mention %q:\n%s", doc.name, m, doc.s)
				}
			}
			for _, want := range []string{
				"&lt;!channel&gt;", "&lt;!here&gt;", "&lt;@\u2060U024BE7LH&gt;",
				"&lt;https://evil.example|click&gt;", "@\u2060here", "@\u2060everyone", " &amp; ",
			} {
				if !strings.Contains(blocks, want) {
					t.Errorf("blocks lack %q:\n%s", want, blocks)
				}
			}
			if !strings.Contains(p.Text, "&lt;!channel&gt;") {
				t.Errorf("fallback text not escaped: %q", p.Text)
			}
		})
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	cases := []struct {
		name    string
		make    func(fs *slacktest.Server) Notifier
		respond func(int, slacktest.Payload) slacktest.Reply
		want    string
	}{
		{"bot invalid_auth", func(fs *slacktest.Server) Notifier { return NewBot("xoxb-wrong-token", "C1", fs.APIURL(), nil) }, nil, "invalid_auth"},
		{"bot channel_not_found", func(fs *slacktest.Server) Notifier { return NewBot(fs.Token, "C404", fs.APIURL(), nil) },
			func(int, slacktest.Payload) slacktest.Reply { return slacktest.Reply{SlackError: "channel_not_found"} }, "channel_not_found"},
		{"bot no channel", func(fs *slacktest.Server) Notifier { return NewBot(fs.Token, "", fs.APIURL(), nil) }, nil, "no channel"},
		{"webhook invalid_token", func(fs *slacktest.Server) Notifier { return NewWebhook(fs.URL()+"/services/T000/B000/revoked", nil) }, nil, "403"},
		{"webhook channel_not_found", func(fs *slacktest.Server) Notifier { return NewWebhook(fs.WebhookURL(), nil) },
			func(int, slacktest.Payload) slacktest.Reply { return slacktest.Reply{SlackError: "channel_not_found"} }, "404"},
		{"webhook 400", func(fs *slacktest.Server) Notifier { return NewWebhook(fs.WebhookURL(), nil) },
			func(int, slacktest.Payload) slacktest.Reply { return slacktest.Reply{Status: http.StatusBadRequest} }, "400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := slacktest.New(t, tc.respond)
			calls := 0
			counted := notifierFunc(func(ctx context.Context, f event.Finding) error {
				calls++
				return tc.make(fs).Notify(ctx, f)
			})
			err := WithRetry(counted, fastRetry).Notify(t.Context(), testFinding())
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			if calls != 1 {
				t.Errorf("tried %d times, want 1", calls)
			}
			if !IsPermanent(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "1 attempt(s)") {
				t.Errorf("err = %v (permanent %v), want a permanent error mentioning %q after 1 attempt", err, IsPermanent(err), tc.want)
			}
			if len(fs.Posts()) != 0 {
				t.Errorf("delivered despite the error")
			}
		})
	}
}

// notifierFunc adapts a function to Notifier.
type notifierFunc func(context.Context, event.Finding) error

// Notify implements Notifier.
func (fn notifierFunc) Notify(ctx context.Context, f event.Finding) error { return fn(ctx, f) }

// TestSecretsNeverLeak checks that neither the bot token nor the webhook's
// secret path appears in errors, in anything errors.As can reach, or in logs
// of those errors, whatever way the delivery fails.
func TestSecretsNeverLeak(t *testing.T) {
	closed := slacktest.New(t, nil)
	closed.Close() // connection refused: net/http errors quote the URL
	type setup struct {
		name    string
		secret  func(fs *slacktest.Server) string
		make    func(fs *slacktest.Server) Notifier
		respond func(int, slacktest.Payload) slacktest.Reply
		fs      *slacktest.Server
	}
	tokenOf := func(fs *slacktest.Server) string { return fs.Token }
	hookOf := func(fs *slacktest.Server) string { return fs.WebhookSecret }
	bot := func(fs *slacktest.Server) Notifier { return NewBot(fs.Token, "C1", fs.APIURL(), nil) }
	wrongBot := func(fs *slacktest.Server) Notifier { return NewBot(fs.Token+"x", "C1", fs.APIURL(), nil) }
	hook := func(fs *slacktest.Server) Notifier { return NewWebhook(fs.WebhookURL(), nil) }
	always := func(r slacktest.Reply) func(int, slacktest.Payload) slacktest.Reply {
		return func(int, slacktest.Payload) slacktest.Reply { return r }
	}
	cases := []setup{
		{name: "bot invalid_auth", secret: tokenOf, make: wrongBot},
		{name: "bot 500s", secret: tokenOf, make: bot, respond: always(slacktest.Reply{Status: 500})},
		{name: "bot 429", secret: tokenOf, make: bot, respond: always(slacktest.Reply{Status: 429, RetryAfter: "bad"})},
		{name: "bot connection refused", secret: tokenOf, make: bot, fs: closed},
		{name: "webhook 500s", secret: hookOf, make: hook, respond: always(slacktest.Reply{Status: 500})},
		{name: "webhook connection refused", secret: hookOf, make: hook, fs: closed},
		{name: "webhook bad URL", secret: func(*slacktest.Server) string { return "SeCrEt99" },
			make: func(*slacktest.Server) Notifier {
				return NewWebhook("http://[::1]:namedport/services/T/B/SeCrEt99", nil)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := tc.fs
			if fs == nil {
				fs = slacktest.New(t, tc.respond)
			}
			secret := tc.secret(fs)
			p := fastRetry
			p.MaxAttempts = 2
			err := WithRetry(tc.make(fs), p).Notify(t.Context(), testFinding())
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			logger.Error("alert failed", "err", err)
			logger.Error("alert failed", "err", fmt.Sprintf("%+v %#v", err, err))
			_ = NewConsole(logger).Notify(t.Context(), testFinding())
			for _, s := range append(errorTree(err), logs.String()) {
				if strings.Contains(s, secret) {
					t.Errorf("secret leaked: %s", s)
				}
			}
			if _, ok := errors.AsType[*url.Error](err); ok {
				t.Errorf("error exposes a URL")
			}
			t.Logf("error: %v", err)
		})
	}
}

// errorTree returns the messages of err and of every error it wraps.
func errorTree(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, errorTree(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorTree(e)...)
		}
	}
	return out
}

func TestConsoleLogsFinding(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	f := testFinding()
	if err := NewConsole(logger).Notify(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`"level":"WARN"`, `"msg":"alert"`, f.AlertID, f.RuleID, f.Summary, f.Event.Actor} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}

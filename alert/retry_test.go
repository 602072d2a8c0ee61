package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/tripline/tripline/internal/event"
	"github.com/tripline/tripline/internal/slacktest"
)

// recordSleeps returns a retrier over n whose waits are recorded and
// skipped.
func recordSleeps(n Notifier, p RetryPolicy) (*retrier, func() []time.Duration) {
	var mu sync.Mutex
	var waits []time.Duration
	r := WithRetry(n, p).(*retrier)
	r.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return r, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

func TestRetryWaitsRetryAfterOnWebhook(t *testing.T) {
	fs := slacktest.New(t, func(n int, _ slacktest.Payload) slacktest.Reply {
		if n <= 2 {
			return slacktest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "7"}
		}
		return slacktest.Reply{}
	})
	r, waits := recordSleeps(NewWebhook(fs.WebhookURL(), nil), fastRetry)
	if err := r.Notify(t.Context(), testFinding()); err != nil {
		t.Fatal(err)
	}
	got := waits()
	if len(got) != 2 {
		t.Fatalf("waited %v, want two waits", got)
	}
	for _, w := range got {
		if w < 7*time.Second || w > 7*time.Second+700*time.Millisecond {
			t.Errorf("waited %v, want Retry-After 7s plus at most 10%% jitter", w)
		}
	}
}

func TestRetryBackoffGrowsAndIsCapped(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 8, Initial: 100 * time.Millisecond, Max: time.Second}
	fail := notifierFunc(func(context.Context, event.Finding) error { return errors.New("connection reset") })
	r, waits := recordSleeps(fail, p)
	err := r.Notify(t.Context(), testFinding())
	if err == nil || err.Error() != "alert: gave up after 8 attempt(s): connection reset" {
		t.Fatalf("err = %v", err)
	}
	got := waits()
	if len(got) != 7 {
		t.Fatalf("waited %d times, want 7", len(got))
	}
	for i, w := range got {
		d := min(p.Initial<<i, p.Max)
		if w < d/2 || w > d {
			t.Errorf("wait %d = %v, want in [%v, %v]", i+1, w, d/2, d)
		}
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	got := RetryPolicy{}.withDefaults()
	if got != DefaultRetryPolicy() {
		t.Errorf("zero policy = %+v, want defaults", got)
	}
	if got := (RetryPolicy{Initial: time.Minute, Max: time.Second}).withDefaults(); got.Max != time.Minute {
		t.Errorf("Max below Initial not raised: %+v", got)
	}
	p := RetryPolicy{MaxAttempts: 3, Initial: time.Millisecond, Max: 2 * time.Millisecond}
	for attempt := 1; attempt < 100; attempt++ {
		if w := p.backoff(attempt, errors.New("x")); w < time.Millisecond/2 || w > 2*time.Millisecond {
			t.Fatalf("backoff(%d) = %v, out of range", attempt, w)
		}
	}
	rl := &slack.RateLimitedError{RetryAfter: 0}
	if w := p.backoff(1, rl); w > time.Millisecond {
		t.Errorf("Retry-After 0 waited %v, want normal backoff", w)
	}
}

func TestRetryAfterServerErrors(t *testing.T) {
	for _, kind := range notifierKinds {
		t.Run(kind.name, func(t *testing.T) {
			fs := slacktest.New(t, func(n int, _ slacktest.Payload) slacktest.Reply {
				if n <= 2 {
					return slacktest.Reply{Status: http.StatusInternalServerError}
				}
				return slacktest.Reply{}
			})
			if err := WithRetry(kind.make(fs), fastRetry).Notify(t.Context(), testFinding()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if got := len(fs.Posts()); got != 1 {
				t.Errorf("delivered %d times, want 1", got)
			}
			if got := fs.Requests(); got != 3 {
				t.Errorf("server saw %d requests, want 3", got)
			}
		})
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	fs := slacktest.New(t, func(int, slacktest.Payload) slacktest.Reply { return slacktest.Reply{Status: http.StatusBadGateway} })
	p := fastRetry
	p.MaxAttempts = 3
	err := WithRetry(NewWebhook(fs.WebhookURL(), nil), p).Notify(t.Context(), testFinding())
	if err == nil {
		t.Fatal("Notify succeeded against a failing server")
	}
	if fs.Requests() != 3 || !strings.Contains(err.Error(), "3 attempt(s)") {
		t.Errorf("requests = %d, err = %v; want 3 attempts", fs.Requests(), err)
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusBadGateway {
		t.Errorf("last error not kept: %v", err)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	for _, kind := range notifierKinds {
		t.Run(kind.name, func(t *testing.T) {
			fs := slacktest.New(t, func(n int, _ slacktest.Payload) slacktest.Reply {
				if n == 1 {
					return slacktest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "1"}
				}
				return slacktest.Reply{}
			})
			start := time.Now()
			if err := WithRetry(kind.make(fs), fastRetry).Notify(t.Context(), testFinding()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if elapsed := time.Since(start); elapsed < time.Second {
				t.Errorf("retried after %v, before Retry-After: 1", elapsed)
			}
			if fs.Requests() != 2 || len(fs.Posts()) != 1 {
				t.Errorf("requests = %d, posts = %d; want 2, 1", fs.Requests(), len(fs.Posts()))
			}
		})
	}
}

func TestRetryStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	fs := slacktest.New(t, func(n int, _ slacktest.Payload) slacktest.Reply {
		if n == 1 {
			cancel() // the retrier is about to wait an hour
		}
		return slacktest.Reply{Status: http.StatusServiceUnavailable}
	})
	hour := RetryPolicy{MaxAttempts: 5, Initial: time.Hour, Max: time.Hour}
	err := WithRetry(NewWebhook(fs.WebhookURL(), nil), hour).Notify(ctx, testFinding())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if fs.Requests() != 1 || !strings.Contains(err.Error(), "1 attempt(s)") {
		t.Errorf("requests = %d, err = %v; want 1 attempt", fs.Requests(), err)
	}
}

func TestRetryStopsBeforeWaitingPastDeadline(t *testing.T) {
	fs := slacktest.New(t, func(int, slacktest.Payload) slacktest.Reply {
		return slacktest.Reply{Status: http.StatusTooManyRequests, RetryAfter: "3600"}
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := WithRetry(NewWebhook(fs.WebhookURL(), nil), fastRetry).Notify(ctx, testFinding())
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want giving up before the deadline", err)
	}
	if _, ok := errors.AsType[*slack.RateLimitedError](err); !ok {
		t.Errorf("rate limit error not kept: %v", err)
	}
}

// TestConcurrentAlertsDoNotBlock runs two alerts through one retrying
// notifier at once: one against an endpoint that hangs and then fails, one
// that succeeds. The second must be delivered while the first is stuck.
func TestConcurrentAlertsDoNotBlock(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	fs := slacktest.New(t, func(n int, p slacktest.Payload) slacktest.Reply {
		if strings.Contains(p.Raw, "stuck-alert") {
			if n == 1 {
				close(entered)
			}
			<-release
			return slacktest.Reply{Status: http.StatusInternalServerError}
		}
		return slacktest.Reply{}
	})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before the server's Close, which waits for handlers
	p := fastRetry
	p.MaxAttempts = 2
	n := WithRetry(NewWebhook(fs.WebhookURL(), nil), p)

	stuck := testFinding()
	stuck.Summary = "stuck-alert"
	stuckDone := make(chan error, 1)
	go func() { stuckDone <- n.Notify(t.Context(), stuck) }()
	<-entered

	fast := testFinding()
	fastDone := make(chan error, 1)
	go func() { fastDone <- n.Notify(t.Context(), fast) }()
	select {
	case err := <-fastDone:
		if err != nil {
			t.Fatalf("concurrent alert: %v", err)
		}
	case err := <-stuckDone:
		t.Fatalf("stuck alert finished first (%v): the test did not overlap them", err)
	case <-time.After(10 * time.Second): // a failure guard, not synchronisation
		t.Fatal("the concurrent alert waited for the stuck one")
	}
	select {
	case err := <-stuckDone:
		t.Fatalf("stuck alert finished before release: %v", err)
	default:
	}
	unblock()
	if err := <-stuckDone; err == nil || !strings.Contains(err.Error(), "2 attempt(s)") {
		t.Errorf("stuck alert: err = %v, want failure after 2 attempts", err)
	}
	if posts := fs.Posts(); len(posts) != 1 || !strings.Contains(posts[0].Text, fast.Summary) {
		t.Errorf("posts = %+v, want only the concurrent alert", posts)
	}
}

func TestIsPermanent(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection reset"), false},
		{slack.StatusCodeError{Code: 400}, true},
		{slack.StatusCodeError{Code: 403}, true},
		{slack.StatusCodeError{Code: 404}, true},
		{slack.StatusCodeError{Code: 410}, true},
		{slack.StatusCodeError{Code: 408}, false},
		{slack.StatusCodeError{Code: 429}, false},
		{slack.StatusCodeError{Code: 500}, false},
		{slack.StatusCodeError{Code: 503}, false},
		{&slack.RateLimitedError{RetryAfter: time.Second}, false},
		{slack.SlackErrorResponse{Err: "invalid_auth"}, true},
		{slack.SlackErrorResponse{Err: "channel_not_found"}, true},
		{slack.SlackErrorResponse{Err: "not_in_channel"}, true},
		{slack.SlackErrorResponse{Err: "ratelimited"}, false},
		{slack.SlackErrorResponse{Err: "internal_error"}, false},
		{Permanent(errors.New("bad config")), true},
		{fmt.Errorf("wrapped: %w", slack.SlackErrorResponse{Err: "invalid_auth"}), true},
		{fmt.Errorf("wrapped: %w", slack.StatusCodeError{Code: 502}), false},
	}
	for _, tc := range cases {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
}

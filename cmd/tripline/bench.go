package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/internal/client"
	"github.com/tripline/tripline/internal/loadgen"
	"github.com/tripline/tripline/internal/store"
)

func newBenchCmd() *cobra.Command {
	var o loadgen.Options
	var url, natsURL string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running pipeline end to end",
		Long: `Bench pushes realistic CloudTrail events through a running 'tripline run'
(HTTP -> JetStream -> detection with the loaded rules -> ClickHouse) and
reports the sustained rate and the latency from posting an attack event to
seeing its finding on the bus. It needs the pipeline's embedded NATS to
listen (nats.listen) and reads the event count from ClickHouse.`,
		Example: `  tripline bench --duration 60s                 # as fast as it goes
  tripline bench --duration 60s --rate 5000 --batch 50   # latency at a fixed rate`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if url == "" {
				url = localURL(cfg.HTTP.Listen)
			}
			if natsURL == "" {
				natsURL = cfg.NATS.URL
				if natsURL == "" && cfg.NATS.Listen != "" {
					natsURL = "nats://" + cfg.NATS.Listen
				}
			}
			if natsURL == "" {
				return errors.New("bench observes findings on NATS: run the pipeline with nats.listen set (e.g. TRIPLINE_NATS_LISTEN=127.0.0.1:4222) or pass --nats")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			st, err := store.Open(ctx, store.Config{Addr: cfg.ClickHouse.Addr, Database: cfg.ClickHouse.Database,
				Username: cfg.ClickHouse.Username, Password: cfg.ClickHouse.Password})
			if err != nil {
				return err
			}
			defer st.Close()
			o.Client = &client.Client{BaseURL: url, Token: cfg.HTTP.AuthToken}
			o.NATSURL = natsURL
			o.Stored = func(ctx context.Context) (uint64, error) {
				n, _, err := st.CountEvents(ctx)
				return n, err
			}
			o.Progress = cmd.ErrOrStderr()
			fmt.Fprintf(cmd.OutOrStdout(), "bench: %s, rate %s, batch %d, concurrency %d, 1 attack in %d events, %d CPUs\n",
				o.Duration, rateText(o.Rate), o.Batch, o.Concurrency, o.AttackEvery, runtime.NumCPU())
			rep, err := loadgen.Run(ctx, o)
			fmt.Fprintln(cmd.OutOrStdout(), rep)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "base URL of the pipeline (default: from http.listen)")
	f.StringVar(&natsURL, "nats", "", "NATS URL to observe findings (default: nats.url or nats.listen)")
	f.DurationVar(&o.Duration, "duration", 60*time.Second, "how long to send")
	f.IntVar(&o.Rate, "rate", 0, "target events/s (0 = as fast as accepted)")
	f.IntVar(&o.Batch, "batch", 500, "events per request")
	f.IntVar(&o.Concurrency, "concurrency", 4, "requests in flight")
	f.IntVar(&o.AttackEvery, "attack-every", 1000, "one attack event in this many")
	f.DurationVar(&o.DrainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for storage to catch up")
	return cmd
}

func rateText(r int) string {
	if r == 0 {
		return "max"
	}
	return fmt.Sprintf("%d/s", r)
}

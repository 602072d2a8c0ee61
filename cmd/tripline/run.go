package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/internal/pipeline"
)

func newRunCmd() *cobra.Command {
	var roles []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline: ingest, detect, store and alert",
		Long: `Run starts the pipeline in one process: the HTTP ingest endpoints, the
detection engine, the ClickHouse writers and the alert notifier.

With no nats.url configured it starts the official NATS server embedded, with
JetStream storing under data_dir. ClickHouse may come up later: events wait in
JetStream until it answers. With no Slack configured, alerts are logged.

Endpoints: POST /v1/ingest/{cloudtrail,json}, GET /healthz, GET /readyz,
GET /metrics.`,
		Example: `  tripline run
  tripline run --config /etc/tripline.yaml
  TRIPLINE_SLACK_WEBHOOK_URL_FILE=/run/secrets/webhook tripline run
  tripline run --role ingest,detect   # one stage per process against shared NATS`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return pipeline.Run(ctx, cfg, pipeline.Options{Roles: roles, Log: newLogger(cfg.LogLevel)})
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", nil, "stages to run: ingest, detect, store, alert (default all)")
	return cmd
}

// Command tripline is the Tripline security monitoring pipeline: it ingests
// function and service logs, detects threats with expression rules, stores
// events and findings in ClickHouse and alerts in Slack.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tripline/tripline/internal/config"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tripline:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "tripline",
		Short: "Security monitoring for serverless functions and microservices",
		Long: `Tripline streams function and service logs into NATS JetStream, evaluates
detection rules on every event, stores events and findings in ClickHouse and
posts alerts to Slack.

Start the pipeline with 'tripline run', send it logs with 'tripline replay'
or over HTTP (POST /v1/ingest/{source}), and search history with
'tripline hunt' and 'tripline alerts'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringP("config", "c", "", "YAML config file (every key may also be set as TRIPLINE_<SECTION>_<KEY>)")
	root.AddCommand(newRunCmd(), newReplayCmd(), newHuntCmd(), newAlertsCmd(), newRulesCmd(), newVersionCmd(), newBenchCmd())
	return root
}

// loadConfig reads --config and the environment.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	path, _ := cmd.Flags().GetString("config")
	return config.Load(path, os.Environ())
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

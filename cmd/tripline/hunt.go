package main

import (
	"github.com/spf13/cobra"
)

func newHuntCmd() *cobra.Command {
	return &cobra.Command{Use: "hunt", Short: "Search stored events with a rule expression"}
}

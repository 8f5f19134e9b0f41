// Command runbook carries a team through a timed change window. See the
// README for the tour; `runbook --help` for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// The first SIGINT/SIGTERM cancels the running step, whose end is then
	// journaled (exit 130); a second one does not wait.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "runbook: interrupted again: exiting without waiting for the step's end")
		os.Exit(exitSignal)
	}()
	code := Main(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	cancel()
	os.Exit(code)
}

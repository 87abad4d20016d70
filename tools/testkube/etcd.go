package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd starts a single-member embedded etcd tuned for tests (no fsync, quiet logs) and serves until
// SIGTERM/SIGINT, then closes cleanly so the data directory can be reused or removed.
func runEtcd(args []string) int {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	name := fs.String("name", "default", "member name")
	dataDir := fs.String("data-dir", "", "data directory (required; created with mode 0700)")
	clientURL := fs.String("listen-client-url", "http://127.0.0.1:2379", "client URL (IP or localhost, real port)")
	peerURL := fs.String("listen-peer-url", "http://127.0.0.1:2380", "peer URL (IP or localhost, real port)")
	logLevel := fs.String("log-level", "error", "zap log level: debug, info, warn, error")
	quota := fs.Int64("quota-backend-bytes", 2<<30, "backend size quota in bytes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "testkube etcd: --data-dir is required")
		return 2
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "testkube etcd: create --data-dir %s: %v\n", *dataDir, err)
		return 1
	}
	c, err := url.Parse(*clientURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkube etcd: bad --listen-client-url: %v\n", err)
		return 2
	}
	p, err := url.Parse(*peerURL)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkube etcd: bad --listen-peer-url: %v\n", err)
		return 2
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.UnsafeNoFsync = true // test data only: fsync would dominate start-up and write latency
	cfg.LogLevel = *logLevel
	cfg.QuotaBackendBytes = *quota
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*c}, []url.URL{*c}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*p}, []url.URL{*p}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "testkube etcd: start: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "testkube etcd: ready on %s\n", c.String())
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "testkube etcd: not ready after 60s (is the data dir on a slow or full disk?)")
		return 1
	case s := <-sig:
		e.Close()
		fmt.Fprintf(os.Stderr, "testkube etcd: %v before ready\n", s)
		return 0
	}
	select {
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "testkube etcd: serve: %v\n", err)
		e.Close()
		return 1
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() { e.Close(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			fmt.Fprintln(os.Stderr, "testkube etcd: close timed out")
			return 1
		}
		return 0
	}
}

// Command testkube is one multi-call binary holding the three Kubernetes control-plane pieces the Transit
// tests need: an embedded etcd, kube-apiserver and kube-controller-manager. Each runs as its own OS process
// (kube-apiserver installs a process-wide signal handler that panics if set up twice), chosen by the first
// argument: `testkube etcd …`, `testkube kube-apiserver …`, `testkube kube-controller-manager …`.
package main

import (
	"fmt"
	"os"

	_ "time/tzdata" // as upstream: CronJob time zones

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

const usage = `usage: testkube <etcd|kube-apiserver|kube-controller-manager|version> [flags]`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	sub, args := os.Args[1], os.Args[2:]
	if sub != "version" && sub != "--version" {
		watchParent()
	}
	switch sub {
	case "etcd":
		os.Exit(runEtcd(args))
	case "kube-apiserver":
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "kube-controller-manager":
		cmd := kcm.NewControllerManagerCommand()
		cmd.SetArgs(args)
		os.Exit(cli.Run(cmd))
	case "version", "--version":
		fmt.Println(versionString())
	default:
		fmt.Fprintf(os.Stderr, "testkube: unknown subcommand %q\n%s\n", sub, usage)
		os.Exit(2)
	}
}

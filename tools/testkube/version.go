package main

import "k8s.io/component-base/version"

func versionString() string {
	v := version.Get()
	return "testkube " + v.GitVersion + " (" + v.GoVersion + ")"
}

package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build information, set with -ldflags "-X main.version=... -X main.commit=...
// -X main.buildDate=..." (see the Makefile). A plain `go build` leaves commit
// to the Go toolchain's VCS stamp.
var (
	version   = "dev"
	commit    = ""
	buildDate = "unknown"
)

// buildInfo is what `gatehouse version` and `gatehouse --version` report.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	BuildDate string `json:"build_date"`
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, GoVersion: runtime.Version(), BuildDate: buildDate}
	if b.Commit == "" {
		b.Commit = "unknown"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, s := range info.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					b.Commit = s.Value[:12]
				}
			}
		}
	}
	return b
}

// String is the one-line form both `version` and `--version` print.
func (b buildInfo) String() string {
	return fmt.Sprintf("gatehouse %s (commit %s, %s, built %s)", b.Version, b.Commit, b.GoVersion, b.BuildDate)
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version, commit, Go version and build date",
		Example: "  gatehouse version --json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := currentBuild()
			if g.json {
				return g.printJSON(b)
			}
			_, err := fmt.Fprintln(g.stdout, b.String())
			return err
		},
	}
}

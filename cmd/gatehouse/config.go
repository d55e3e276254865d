package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// ConfigFile is the configuration `serve` reads from the data directory
// when --config is not given and the file exists.
const ConfigFile = "gatehouse.toml"

// envPrefix starts the environment variable of every serve setting:
// --max-packet-size is GATEHOUSE_MAX_PACKET_SIZE.
const envPrefix = "GATEHOUSE_"

// setting is the effective value of one serve setting and where it came from.
type setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"` // "flag", "env", "file" or "default"
	Env    string `json:"env"`    // the variable that sets it
}

// config is the effective serve configuration.
type config struct {
	File     string    `json:"file"` // the file read, empty when none
	Settings []setting `json:"settings"`
}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// configKeys are the flags a config file and the environment may set: every
// flag of the command itself (so flags added later are covered without
// listing them), except --config and --help.
func configKeys(cmd *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			out = append(out, f)
		}
	})
	return out
}

// configPath is the file to read: --config, else $GATEHOUSE_CONFIG, else
// DATA/gatehouse.toml when it exists. explicit reports a file the operator
// named, which must then exist.
func configPath(cmd *cobra.Command, dataDir string, getenv func(string) string) (path string, explicit bool) {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if p := getenv(envName("config")); p != "" {
		return p, true
	}
	p := filepath.Join(dataDir, ConfigFile)
	if _, err := os.Stat(p); err == nil {
		return p, false
	}
	return "", false
}

// readConfigFile decodes a TOML file of top-level keys, each a flag name.
// A key that is not a setting is an error naming it.
func readConfigFile(path string, keys []*pflag.Flag) (map[string]any, error) {
	var m map[string]any
	if _, err := toml.DecodeFile(path, &m); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	for k := range m {
		if !slices.ContainsFunc(keys, func(f *pflag.Flag) bool { return f.Name == k }) {
			return nil, fmt.Errorf("config %s: unknown key %q (keys are serve's flag names, see 'gatehouse config show')", path, k)
		}
	}
	return m, nil
}

// applyConfig fills every setting not given as a flag from the environment,
// then from the config file; the rest keep their defaults. Precedence:
// flag > env > file > default. Values are set without marking the flags
// changed, so a later reload still knows what came from the command line.
func applyConfig(cmd *cobra.Command, dataDir string, getenv func(string) string) (config, error) {
	keys := configKeys(cmd)
	path, explicit := configPath(cmd, dataDir, getenv)
	var file map[string]any
	if path != "" {
		if _, err := os.Stat(path); err != nil && explicit {
			return config{}, usageErr{Err: fmt.Errorf("config file %s: %w", path, errors.Unwrap(err))}
		}
		var err error
		if file, err = readConfigFile(path, keys); err != nil {
			return config{}, usageErr{Err: err}
		}
	}
	cfg := config{File: path}
	for _, f := range keys {
		s := setting{Key: f.Name, Source: "default", Env: envName(f.Name)}
		switch raw, inFile := file[f.Name]; {
		case f.Changed:
			s.Source = "flag"
		case getenv(s.Env) != "":
			if err := setFlag(f, splitEnv(f, getenv(s.Env))); err != nil {
				return config{}, usageErr{Err: fmt.Errorf("%s: %w", s.Env, err)}
			}
			s.Source = "env"
		case inFile:
			vals, err := tomlStrings(raw)
			if err == nil {
				err = setFlag(f, vals)
			}
			if err != nil {
				return config{}, usageErr{Err: fmt.Errorf("config %s: key %q: %w", path, f.Name, err)}
			}
			s.Source = "file"
		}
		s.Value = flagString(f)
		cfg.Settings = append(cfg.Settings, s)
	}
	return cfg, nil
}

// setFlag sets f from its string forms: all of them for a list flag, the
// only one otherwise.
func setFlag(f *pflag.Flag, vals []string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.Replace(vals)
	}
	if len(vals) != 1 {
		return fmt.Errorf("takes one value, not a list")
	}
	return f.Value.Set(vals[0])
}

// splitEnv reads a list flag's variable as comma-separated values.
func splitEnv(f *pflag.Flag, v string) []string {
	if _, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Split(v, ",")
	}
	return []string{v}
}

// tomlStrings turns a TOML value into the flag's string forms.
func tomlStrings(v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return []string{x}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case int64:
		return []string{strconv.FormatInt(x, 10)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, err := tomlStrings(e)
			if err != nil || len(s) != 1 {
				return nil, fmt.Errorf("a list holds strings, numbers or booleans")
			}
			out = append(out, s[0])
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported value %v: use a string, number, boolean or list", v)
}

// flagValues is a flag's value in the string forms setFlag takes.
func flagValues(f *pflag.Flag) []string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{f.Value.String()}
}

// flagString is a flag's value as an operator would write it.
func flagString(f *pflag.Flag) string {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		return strings.Join(sv.GetSlice(), ",")
	}
	return f.Value.String()
}

// registerConfigFlag adds --config to a command.
func registerConfigFlag(c *cobra.Command) {
	c.Flags().String("config", "", "TOML file of serve settings (default DATA/"+ConfigFile+" when present); precedence: flag > env GATEHOUSE_<NAME> > file > default")
}

func newConfig(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:     "config",
		Short:   "Show serve's effective configuration",
		Example: "  gatehouse config show --json",
		Args:    cobra.NoArgs,
		RunE:    needsSubcommand,
	}
	serve := newServe(g)
	show := &cobra.Command{
		Use:   "show [serve flags]",
		Short: "Print every serve setting, its value and where it came from",
		Long: `Print every setting of 'gatehouse serve' with its effective value and its
source: flag, env (GATEHOUSE_<NAME>), file (--config, default DATA/gatehouse.toml)
or default. Serve's flags may be given, to see what a command line would run.`,
		Example: "  gatehouse config show\n  gatehouse config show --config /etc/gatehouse.toml --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			cfg, err := applyConfig(serve, dir, os.Getenv)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(cfg)
			}
			file := cfg.File
			if file == "" {
				file = "none (" + filepath.Join(dir, ConfigFile) + " does not exist)"
			}
			fmt.Fprintln(g.stdout, "config file: "+file)
			return printList(g, cfg.Settings, []string{"KEY", "VALUE", "SOURCE", "ENV"}, func(s setting) []string {
				return []string{s.Key, orDash(s.Value), s.Source, s.Env}
			})
		},
	}
	// The flags are serve's own: parsing them here marks them changed there.
	show.Flags().AddFlagSet(serve.Flags())
	c.AddCommand(show)
	return c
}

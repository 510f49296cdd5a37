package serviceenv

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads the compose file dir/file as `docker compose` does in
// dir: the official schema, interpolation (when interpolate) from the
// envFiles and dir's .env, env_file read, the consistency checks (unknown
// keys, undefined services and volumes, bad depends_on conditions and
// ports fail), every profile enabled, nothing taken from this process's
// environment.
func LoadCompose(ctx context.Context, dir, file string, interpolate bool, envFiles ...string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, file)},
		cli.WithWorkingDirectory(dir), cli.WithName("evtrack"),
		cli.WithEnvFiles(envFiles...), cli.WithDotEnv,
		cli.WithInterpolation(interpolate), cli.WithConsistency(true), cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"*"}))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	project, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return project, nil
}

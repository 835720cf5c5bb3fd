import { Fields, joinPath } from './fields.js';

/** The recipe half of `cairn.yaml`. */
export interface BuildConfig {
  /** Shell command run in the snapshot with a normalised environment. */
  readonly run: string;
  /** Directory, relative to the project, packed into the artifact. */
  readonly output: string;
  /**
   * `npm`: cairn installs `package-lock.json` into `node_modules` from the npm cache, each
   * package checked against its lockfile integrity, before the recipe runs without network.
   * `none` (default): the recipe installs what it needs itself.
   */
  readonly install: 'none' | 'npm';
  /** Artifact format: `tgz` (default) or `zip`, both packed deterministically. */
  readonly format?: 'tgz' | 'zip';
}

export interface DeployConfig {
  readonly target: 'local';
  /** Command that starts the service from the unpacked artifact; it must listen on `$PORT`. */
  readonly start: string;
  /** HTTP path answering 200 once the service is ready. */
  readonly health: string;
  /** Environment names deployed by `cairn run` (default `["dev"]`). */
  readonly environments: readonly string[];
  /** Seconds to wait for the health endpoint (default 15). */
  readonly healthTimeoutSeconds: number;
}

/** A parsed `cairn.yaml`. */
export interface ProjectConfig {
  readonly name: string;
  readonly build: BuildConfig;
  readonly deploy: DeployConfig;
}

export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const RELATIVE_PATH = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,256}$/;
const HTTP_PATH = /^\/[A-Za-z0-9._~/-]{0,255}$/;

/**
 * Turns the raw (already YAML-decoded) `cairn.yaml` into a typed config, reporting every
 * unknown key, wrong type and missing field with its path.
 */
export function projectConfigFromJSON(raw: unknown): ProjectConfig {
  const f = new Fields();
  const root = f.object(raw, '', ['name', 'build', 'deploy']);
  if (!root) return f.finish<ProjectConfig>(undefined, 'CONFIG_INVALID', 'cairn.yaml');

  const name = f.string(root.name, 'name', { pattern: NAME_PATTERN, maxLength: 64 });

  let build: BuildConfig | undefined;
  if (root.build === undefined) f.report('build', 'MISSING', 'required: the build recipe (build.run, build.output)');
  else {
    const b = f.object(root.build, 'build', ['run', 'output', 'install', 'format']);
    if (b) {
      const run = f.string(b.run, 'build.run', { maxLength: 8192 });
      const output = f.string(b.output, 'build.output', { pattern: RELATIVE_PATH });
      const install = b.install === undefined ? 'none' : f.string(b.install, 'build.install');
      if (install !== undefined && install !== 'none' && install !== 'npm')
        f.report('build.install', 'UNSUPPORTED', `unknown installer "${install}" (supported: npm, none)`);
      else if (run !== undefined && output !== undefined && install !== undefined) {
        const format = b.format === undefined ? undefined : f.string(b.format, 'build.format');
        if (format !== undefined && format !== 'tgz' && format !== 'zip')
          f.report('build.format', 'UNSUPPORTED', `unknown artifact format "${format}" (supported: tgz, zip)`);
        else build = { run, output, install, ...(format ? { format } : {}) };
      }
    }
  }

  let deploy: DeployConfig | undefined;
  if (root.deploy === undefined) f.report('deploy', 'MISSING', 'required: how to start the service (deploy.target, deploy.start, deploy.health)');
  else {
    const d = f.object(root.deploy, 'deploy', ['target', 'start', 'health', 'environments', 'healthTimeoutSeconds']);
    if (d) {
      const target = f.string(d.target, 'deploy.target');
      if (target !== undefined && target !== 'local') f.report('deploy.target', 'UNSUPPORTED', `unknown target "${target}" (supported: local)`);
      const start = f.string(d.start, 'deploy.start', { maxLength: 8192 });
      const health = f.string(d.health, 'deploy.health', { pattern: HTTP_PATH });
      let environments: string[] = ['dev'];
      if (d.environments !== undefined) {
        const list = f.array(d.environments, 'deploy.environments', 16);
        if (list) {
          environments = [];
          list.forEach((item, i) => {
            const env = f.string(item, joinPath('deploy.environments', i), { pattern: NAME_PATTERN });
            if (env !== undefined) environments.push(env);
          });
          if (list.length === 0) f.report('deploy.environments', 'EMPTY', 'must name at least one environment');
        }
      }
      const timeout = d.healthTimeoutSeconds === undefined ? 15 : f.integer(d.healthTimeoutSeconds, 'deploy.healthTimeoutSeconds', 1, 600);
      if (target === 'local' && start !== undefined && health !== undefined && timeout !== undefined) {
        deploy = { target, start, health, environments, healthTimeoutSeconds: timeout };
      }
    }
  }

  const config = name !== undefined && build && deploy ? { name, build, deploy } : undefined;
  return f.finish(config, 'CONFIG_INVALID', 'cairn.yaml');
}

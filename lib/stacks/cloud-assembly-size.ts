import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Deploy review R3: CodePipeline accepts input artifacts of at most 256 MB for AWS CloudFormation actions
 * (CodePipeline User Guide, "Quotas"), and CDK Pipelines gives its CloudFormation actions (and the asset and
 * self-mutation steps) the whole cloud assembly it deploys from (aws/aws-cdk #9917, #21325). The large job artifacts
 * are therefore published before that assembly is formed and removed from it (`PublishJobArtifacts`,
 * lib/stacks/deployment-pipeline-stack.ts); what remains — templates, asset manifests, Lambda bundles, … — must stay
 * under the limit. Pure file-system code, no CDK.
 */

/** CodePipeline's limit for input artifacts of CloudFormation actions. */
export const CFN_ACTION_INPUT_LIMIT_BYTES = 256 * 1024 * 1024;

export interface AssemblyFile {
  /** Path relative to the assembly directory, `/`-separated. */
  readonly path: string;
  readonly bytes: number;
}

export class ArtifactSizeError extends Error {
  override readonly name = 'ArtifactSizeError';
}

/** `268435456` → `256.0 MB` (MiB, as CodePipeline counts). */
export const formatBytes = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${bytes} B`;

/**
 * Every file under `dir` (recursively, symlinks not followed) except the `exclude` paths (relative to `dir`; a
 * directory excludes what is below it), largest first.
 */
export function assemblyFiles(dir: string, exclude: readonly string[] = []): AssemblyFile[] {
  const skip = new Set(exclude.map((p) => path.posix.normalize(p.split(path.sep).join('/'))));
  const out: AssemblyFile[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (skip.has(child)) continue;
      if (entry.isDirectory()) walk(child);
      else out.push({ path: child, bytes: fs.lstatSync(path.join(dir, child)).size });
    }
  };
  walk('');
  return out.sort((a, b) => b.bytes - a.bytes || a.path.localeCompare(b.path));
}

/**
 * Checks that the files of the cloud assembly at `dir` that reach the CloudFormation actions — all of them but
 * `publishedSeparately` (removed before the artifact is formed) — total less than `limitBytes`. The sum of the
 * file sizes is an upper bound of the zipped artifact CodePipeline measures.
 * @throws ArtifactSizeError with the total, the limit and the largest files.
 */
export function checkCfnActionInputSize(
  dir: string,
  options: { readonly publishedSeparately?: readonly string[]; readonly limitBytes?: number; readonly largest?: number } = {},
): { readonly totalBytes: number; readonly files: readonly AssemblyFile[] } {
  const limit = options.limitBytes ?? CFN_ACTION_INPUT_LIMIT_BYTES;
  const excluded = options.publishedSeparately ?? [];
  const files = assemblyFiles(dir, excluded);
  const totalBytes = files.reduce((sum, f) => sum + f.bytes, 0);
  if (totalBytes >= limit) {
    const largest = files
      .slice(0, options.largest ?? 5)
      .map((f) => `${f.path} ${formatBytes(f.bytes)}`)
      .join(', ');
    throw new ArtifactSizeError(
      `The cloud assembly ${dir} is ${formatBytes(totalBytes)} (${files.length} files` +
        `${excluded.length ? `, without the ${excluded.length} job-artifact files published before it` : ''}), ` +
        `not under the ${formatBytes(limit)} CodePipeline accepts as input of a CloudFormation action; largest files: ${largest}. ` +
        'Publish large files as job artifacts (lib/constructs/job-artifacts.ts, published by the PublishJobArtifacts step) ' +
        'instead of inside the templates or Lambda bundles.',
    );
  }
  return { totalBytes, files };
}

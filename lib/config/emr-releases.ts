import * as z from 'zod';
import catalogue from './emr-releases.json';
import { RELEASE_LABEL_PATTERN } from './release-label';

/**
 * The EMR release catalogue (`emr-releases.json`, the one place these facts live): per release label its Spark,
 * Scala and Java versions, the Python versions the image offers (default and available) with their interpreter
 * paths, the architectures, the image's glibc, where the facts come from and when they were checked.
 *
 * Read by the stage config (a stage may only name a catalogued release, Python version and architecture), by
 * `npm run package` (pip's `--python-version`/`--abi`/`--platform`, the archive launcher's interpreter, the
 * manifest's `builtFor`) and by synth (the packaged manifest must be built for the stage's {@link BuildTarget}).
 */

const pythonVersion = z.string().regex(/^3\.\d+$/, 'must look like 3.11');

export const EmrReleaseSchema = z
  .object({
    /** Apache Spark version (`major.minor.patch`), what `pyspark` reports without the `-amzn-N` suffix. */
    sparkVersion: z.string().regex(/^\d+\.\d+\.\d+$/),
    /** The EMR build of Spark, e.g. `4.0.2-amzn-0`. */
    sparkBuild: z.string(),
    scalaVersion: z.string(),
    javaVersion: z.string(),
    python: z
      .object({
        /** The version a stage gets when it sets no `pythonVersion`. */
        default: pythonVersion,
        /** Every Python version the image offers → its interpreter (absolute path). */
        interpreters: z.record(pythonVersion, z.string().regex(/^\/\S+$/, 'must be an absolute path')),
      })
      .strict()
      .refine((p) => p.default in p.interpreters, { message: 'default must be one of interpreters' }),
    architectures: z.array(z.enum(['X86_64', 'ARM64'])).min(1),
    os: z.string(),
    /** Newest glibc of the image (`2.34`): the newest `manylinux_2_X` wheel tag it can load. */
    glibc: z.string().regex(/^2\.\d+$/),
    /** The Delta Lake the image ships (Delta release history): the lake's table format. */
    delta: z
      .object({
        /** Open-source Delta version the build is based on (`4.0.0`). */
        version: z.string().regex(/^\d+\.\d+\.\d+$/),
        /** The EMR build, e.g. `3.3.2-amzn-2`. */
        build: z.string(),
      })
      .strict(),
    released: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
    sources: z.array(z.string().url()).min(1),
    /** When the facts were last checked against the sources (YYYY-MM-DD). */
    checked: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
    notes: z.string().optional(),
  })
  .strict();
export type EmrRelease = z.infer<typeof EmrReleaseSchema>;

const CatalogueSchema = z
  .object({
    $comment: z.string().optional(),
    /** How every job run loads Delta Lake (the same on every catalogued image). */
    delta: z
      .object({
        $comment: z.string().optional(),
        /** The image's Delta jars (absolute paths on the image), loaded with `spark.jars`. */
        jars: z.array(z.string().regex(/^\/\S+\.jar$/, 'must be an absolute .jar path')).min(1),
        sparkConf: z.record(z.string().regex(/^spark\./), z.string()),
      })
      .strict(),
    releases: z.record(z.string().regex(RELEASE_LABEL_PATTERN, 'must be an EMR release label'), EmrReleaseSchema),
  })
  .strict();

const CATALOGUE = (() => {
  const result = CatalogueSchema.safeParse(catalogue);
  if (!result.success) {
    throw new Error(`lib/config/emr-releases.json: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return result.data;
})();

/** Release label → release, as listed in `emr-releases.json` (checked when this module loads). */
export const EMR_RELEASES: Readonly<Record<string, EmrRelease>> = CATALOGUE.releases;

/** The image's Delta Lake jars, for `spark.jars`. */
export const DELTA_JARS: readonly string[] = CATALOGUE.delta.jars;

/** Spark properties that make a session use Delta Lake (its SQL extension and catalog). */
export const DELTA_SPARK_CONF: Readonly<Record<string, string>> = CATALOGUE.delta.sparkConf;

/** Every catalogued release label, in the catalogue's order. */
export const KNOWN_RELEASE_LABELS: readonly string[] = Object.keys(EMR_RELEASES);

export class ReleaseCatalogueError extends Error {
  override readonly name = 'ReleaseCatalogueError';
}

export function findRelease(releaseLabel: string): EmrRelease | undefined {
  return Object.prototype.hasOwnProperty.call(EMR_RELEASES, releaseLabel) ? EMR_RELEASES[releaseLabel] : undefined;
}

/** The message for a release the catalogue does not list (names it and every known one). */
export function unknownReleaseMessage(releaseLabel: string): string {
  return `${releaseLabel} is not in the EMR release catalogue (lib/config/emr-releases.json); known releases: ${KNOWN_RELEASE_LABELS.join(', ')}`;
}

/** @throws ReleaseCatalogueError naming the label and the known ones. */
export function getRelease(releaseLabel: string): EmrRelease {
  const release = findRelease(releaseLabel);
  if (!release) throw new ReleaseCatalogueError(unknownReleaseMessage(releaseLabel));
  return release;
}

/** Python versions the release's image offers, in the catalogue's order. */
export function pythonVersionsOf(release: EmrRelease): string[] {
  return Object.keys(release.python.interpreters);
}

/** EMR Serverless architecture → the CPU name in pip platform tags and the manifest. */
export const WHEEL_ARCHITECTURE = { X86_64: 'x86_64', ARM64: 'aarch64' } as const;
export type EmrArchitecture = keyof typeof WHEEL_ARCHITECTURE;
export type WheelArchitecture = (typeof WHEEL_ARCHITECTURE)[EmrArchitecture];

/** What a stage's job artifacts must be built for: release, Spark, Python ABI and interpreter, CPU, glibc. */
export interface BuildTarget {
  readonly releaseLabel: string;
  readonly sparkVersion: string;
  readonly pythonVersion: string;
  /** The image's interpreter of `pythonVersion`: the archive launcher execs it. */
  readonly interpreter: string;
  readonly architecture: WheelArchitecture;
  /** Minor version of the image's glibc (34 for 2.34): the newest manylinux tag pip may take. */
  readonly maxGlibc: number;
}

/**
 * The build target of a release, Python version (default: the release's default) and architecture.
 * @throws ReleaseCatalogueError for an unknown release, a Python version or architecture the release lacks.
 */
export function buildTarget(releaseLabel: string, pythonVersion: string | undefined, architecture: EmrArchitecture): BuildTarget {
  const release = getRelease(releaseLabel);
  const version = pythonVersion ?? release.python.default;
  const interpreter = release.python.interpreters[version];
  if (!interpreter) {
    throw new ReleaseCatalogueError(`${releaseLabel} offers Python ${pythonVersionsOf(release).join(', ')}, not ${version}`);
  }
  if (!release.architectures.includes(architecture)) {
    throw new ReleaseCatalogueError(`${releaseLabel} runs on ${release.architectures.join(', ')}, not ${architecture}`);
  }
  return {
    releaseLabel,
    sparkVersion: release.sparkVersion,
    pythonVersion: version,
    interpreter,
    architecture: WHEEL_ARCHITECTURE[architecture],
    maxGlibc: Number(release.glibc.split('.')[1]),
  };
}

/** Directory name of a target's build under `artifacts/targets/`: `emr-spark-8.0.0-py3.11-x86_64`. */
export function buildTargetId(target: Pick<BuildTarget, 'releaseLabel' | 'pythonVersion' | 'architecture'>): string {
  return `${target.releaseLabel}-py${target.pythonVersion}-${target.architecture}`;
}

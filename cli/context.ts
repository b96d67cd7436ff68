import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { resolve } from 'node:path';
import { loadStageOutputs, type StageOutputs } from './stage-outputs';

/** Options every command accepts (set on the root program). */
export interface GlobalOptions {
  readonly stage: string;
  readonly region?: string;
  readonly local?: boolean;
  readonly pollSeconds?: number;
  /** With --local: the local runner's tree (default `.local`), a cloud assembly to use, the Spark master. */
  readonly root?: string;
  readonly assembly?: string;
  readonly master?: string;
}

/** `--root`, `--assembly`, `--master` as the local runtime takes them (absent: its defaults). */
export interface LocalRuntimeOverrides {
  readonly root?: string;
  readonly assemblyDir?: string;
  readonly master?: string;
}

/** Where output goes and how the CLI waits; replaced in tests. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => Date;
  /** Working directory for relative paths and `.local/` (default: process.cwd()). */
  readonly cwd: string;
}

export const defaultIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => new Date(),
  cwd: process.cwd(),
};

/** Everything a command needs: options, output, lazily created AWS clients and the stage's stack outputs. */
export class CliContext {
  private cachedOutputs?: Promise<StageOutputs>;
  private clients: { cfn?: CloudFormationClient; sfn?: SFNClient; emr?: EMRServerlessClient; s3?: S3Client } = {};

  constructor(
    readonly options: GlobalOptions,
    readonly io: CliIo,
  ) {}

  get stage(): string {
    return this.options.stage;
  }

  /** With --local: the local runner's tree (`--root`, default `<cwd>/.local`). */
  get localRoot(): string {
    return resolve(this.io.cwd, this.options.root ?? '.local');
  }

  /** With --local: what the options change in how the local runtime is created (tree, assembly, Spark master). */
  get localRuntime(): LocalRuntimeOverrides {
    return {
      ...(this.options.root ? { root: this.localRoot } : {}),
      ...(this.options.assembly ? { assemblyDir: resolve(this.io.cwd, this.options.assembly) } : {}),
      ...(this.options.master ? { master: this.options.master } : {}),
    };
  }

  get pollMs(): number {
    return (this.options.pollSeconds ?? 5) * 1000;
  }

  private clientConfig() {
    return this.options.region ? { region: this.options.region } : {};
  }

  get cfn(): CloudFormationClient {
    return (this.clients.cfn ??= new CloudFormationClient(this.clientConfig()));
  }
  get sfn(): SFNClient {
    return (this.clients.sfn ??= new SFNClient(this.clientConfig()));
  }
  get emr(): EMRServerlessClient {
    return (this.clients.emr ??= new EMRServerlessClient(this.clientConfig()));
  }
  get s3(): S3Client {
    return (this.clients.s3 ??= new S3Client(this.clientConfig()));
  }

  /** The deployed stage's stack outputs (DescribeStacks once per invocation). */
  outputs(): Promise<StageOutputs> {
    return (this.cachedOutputs ??= loadStageOutputs(this.cfn, this.stage));
  }

  async region(): Promise<string> {
    return this.options.region ?? (await this.emr.config.region());
  }
}

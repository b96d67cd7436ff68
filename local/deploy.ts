import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { CfnResource, LocalDeployment, StackTemplate } from './deployment';
import { LoopbackCertificate } from './endpoint/tls';
import { Json } from './intrinsics';
import { LambdaFunctionError, LocalLambdaHost } from './lambda-host';
import { LocalLayout } from './layout';

/**
 * The deploy lifecycle on this machine, as CloudFormation runs it: the stack's file assets are uploaded to the
 * bootstrap assets bucket (as `cdk deploy` does), then every custom resource backed by one of the project's
 * handlers is invoked under its function's role with the CloudFormation event — Create on the first deployment,
 * Update when its properties changed (with `OldResourceProperties`), nothing when they did not, Delete on
 * {@link LocalStackDeployer.teardown}. The handler answers on the pre-signed `ResponseURL` (here a loopback HTTPS
 * receiver); a FAILED answer fails the deployment with the handler's reason, like CREATE_FAILED / UPDATE_FAILED.
 *
 * State (physical id and properties of each deployed custom resource): `<layout.root>/deployments/<stack>.json`.
 * Custom resources of CDK's own providers (their handler inlines an SDK the local routing cannot reach) are
 * listed in `skipped` and not run.
 */
export interface CustomResourceOutcome {
  readonly stackName: string;
  readonly logicalId: string;
  readonly type: string;
  readonly requestType: 'Create' | 'Update' | 'Delete' | 'NoChange';
  readonly physicalResourceId?: string;
  readonly data?: Record<string, string>;
}

/** A custom resource answered FAILED (or timed out): the deployment stops, as CloudFormation's does. */
export class DeploymentFailedError extends Error {
  override readonly name = 'DeploymentFailedError';
}

interface DeployedResource {
  readonly physicalResourceId: string;
  readonly properties: Record<string, Json>;
}

type StackState = Record<string, DeployedResource>;

export class LocalStackDeployer {
  readonly outcomes: CustomResourceOutcome[] = [];
  readonly skipped: string[] = [];

  constructor(
    private readonly deployment: LocalDeployment,
    private readonly layout: LocalLayout,
    private readonly lambdas: LocalLambdaHost,
    private readonly certificate: LoopbackCertificate,
  ) {}

  /** Uploads the assets and creates/updates the custom resources of every stack. */
  async deploy(): Promise<CustomResourceOutcome[]> {
    for (const stack of this.deployment.stacks) {
      this.uploadFileAssets(stack);
      const state = this.readState(stack);
      for (const [logicalId, resource] of this.customResources(stack)) {
        const properties = this.properties(stack, resource);
        const deployed = state[logicalId];
        if (deployed && JSON.stringify(deployed.properties) === JSON.stringify(properties)) {
          this.outcomes.push({ stackName: stack.stackName, logicalId, type: resource.Type, requestType: 'NoChange', physicalResourceId: deployed.physicalResourceId });
          continue;
        }
        const requestType = deployed ? 'Update' : 'Create';
        const answer = await this.invoke(stack, logicalId, resource, requestType, properties, deployed);
        state[logicalId] = { physicalResourceId: answer.PhysicalResourceId, properties };
        this.writeState(stack, state);
        this.outcomes.push({ stackName: stack.stackName, logicalId, type: resource.Type, requestType, physicalResourceId: answer.PhysicalResourceId, data: answer.Data });
      }
    }
    return this.outcomes;
  }

  /** Deletes the deployed custom resources (reverse order), as a stack deletion does. */
  async teardown(): Promise<CustomResourceOutcome[]> {
    const outcomes: CustomResourceOutcome[] = [];
    for (const stack of [...this.deployment.stacks].reverse()) {
      const state = this.readState(stack);
      const resources = this.customResources(stack).filter(([id]) => state[id]).reverse();
      for (const [logicalId, resource] of resources) {
        const deployed = state[logicalId];
        const answer = await this.invoke(stack, logicalId, resource, 'Delete', deployed.properties, deployed);
        delete state[logicalId];
        this.writeState(stack, state);
        outcomes.push({ stackName: stack.stackName, logicalId, type: resource.Type, requestType: 'Delete', physicalResourceId: answer.PhysicalResourceId });
      }
    }
    this.outcomes.push(...outcomes);
    return outcomes;
  }

  private customResources(stack: StackTemplate): Array<[string, CfnResource]> {
    const out: Array<[string, CfnResource]> = [];
    for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (!resource.Type.startsWith('Custom::') && resource.Type !== 'AWS::CloudFormation::CustomResource') continue;
      const token = String(this.deployment.resolve(stack, resource.Properties?.ServiceToken ?? ''));
      const fn = this.deployment.findFunction(token);
      if (!fn || !/\/lambda\/[^/]+\/index\.ts$/.test(fn.codeFile)) {
        this.skipped.push(`${stack.stackName}/${logicalId} (${resource.Type}): handler is not one of the project's`);
        continue;
      }
      out.push([logicalId, resource]);
    }
    return out;
  }

  private properties(stack: StackTemplate, resource: CfnResource): Record<string, Json> {
    return this.deployment.resolve(stack, (resource.Properties ?? {}) as Json) as Record<string, Json>;
  }

  private async invoke(
    stack: StackTemplate,
    logicalId: string,
    resource: CfnResource,
    requestType: 'Create' | 'Update' | 'Delete',
    properties: Record<string, Json>,
    deployed?: DeployedResource,
  ): Promise<{ Status: string; PhysicalResourceId: string; Reason?: string; Data?: Record<string, string> }> {
    const fn = this.deployment.findFunction(String(properties.ServiceToken))!;
    const receiver = await ResponseReceiver.start(this.certificate);
    try {
      const stackId = `arn:aws:cloudformation:${this.deployment.region}:${this.deployment.accountId}:stack/${stack.stackName}/local`;
      const event = {
        RequestType: requestType,
        ServiceToken: String(properties.ServiceToken),
        ResponseURL: receiver.url,
        StackId: stackId,
        RequestId: randomUUID(),
        LogicalResourceId: logicalId,
        ResourceType: resource.Type,
        ResourceProperties: properties,
        ...(deployed ? { PhysicalResourceId: deployed.physicalResourceId } : {}),
        ...(requestType === 'Update' && deployed ? { OldResourceProperties: deployed.properties } : {}),
      };
      const logFile = path.join(this.layout.logsRoot, 'deploy', stack.stackName, `${logicalId}-${requestType}.log`);
      try {
        await this.lambdas.invoke(fn, event, { logFile });
      } catch (error) {
        if (!(error instanceof LambdaFunctionError)) throw error;
        // a handler that throws never answers: CloudFormation waits for the response timeout, then fails
        throw new DeploymentFailedError(`${stack.stackName}/${logicalId} (${resource.Type}) ${requestType} failed: ${error.payload.errorType}: ${error.payload.errorMessage} (no response sent; log ${logFile})`);
      }
      const answer = receiver.response;
      if (!answer) throw new DeploymentFailedError(`${stack.stackName}/${logicalId} (${resource.Type}) ${requestType}: the handler returned without answering on ResponseURL (log ${logFile})`);
      if (answer.Status !== 'SUCCESS') {
        throw new DeploymentFailedError(`${stack.stackName}/${logicalId} (${resource.Type}) ${requestType.toUpperCase()}_FAILED: ${answer.Reason ?? '(no reason)'}`);
      }
      return answer;
    } finally {
      await receiver.close();
    }
  }

  /** `cdk deploy` publishes the stack's file assets to the bootstrap bucket before the stack operation. */
  private uploadFileAssets(stack: StackTemplate): void {
    const manifestFile = stack.templateFile.replace(/\.template\.json$/, '.assets.json');
    if (!existsSync(manifestFile)) return;
    const assets = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
      files?: Record<string, { source: { path?: string; packaging?: string }; destinations: Record<string, { bucketName: string; objectKey: string }> }>;
    };
    const substitute = (text: string) => text.replace(/\$\{AWS::AccountId\}/g, this.deployment.accountId).replace(/\$\{AWS::Region\}/g, this.deployment.region).replace(/\$\{AWS::Partition\}/g, 'aws');
    for (const asset of Object.values(assets.files ?? {})) {
      if (asset.source.packaging !== 'file' || !asset.source.path) continue; // Lambda code runs from the assembly itself
      const source = path.resolve(path.dirname(manifestFile), asset.source.path);
      for (const destination of Object.values(asset.destinations)) {
        const target = this.layout.objectPath(substitute(destination.bucketName), substitute(destination.objectKey));
        if (existsSync(target) && statSync(target).size === statSync(source).size) continue;
        mkdirSync(path.dirname(target), { recursive: true });
        copyFileSync(source, target);
      }
    }
  }

  private stateFile(stack: StackTemplate): string {
    return path.join(this.layout.root, 'deployments', `${stack.stackName}.json`);
  }

  private readState(stack: StackTemplate): StackState {
    const file = this.stateFile(stack);
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StackState) : {};
  }

  private writeState(stack: StackTemplate, state: StackState): void {
    const file = this.stateFile(stack);
    mkdirSync(path.dirname(file), { recursive: true });
    if (Object.keys(state).length === 0) rmSync(file, { force: true });
    else writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** The pre-signed response URL of one custom-resource request: a loopback HTTPS server taking one PUT. */
class ResponseReceiver {
  response?: { Status: string; PhysicalResourceId: string; Reason?: string; Data?: Record<string, string> };

  private constructor(private readonly server: https.Server, readonly url: string) {}

  static async start(certificate: LoopbackCertificate): Promise<ResponseReceiver> {
    let receiver: ResponseReceiver | undefined;
    const server = https.createServer({ pfx: certificate.pfx, passphrase: certificate.passphrase }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'PUT' && receiver) receiver.response = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        res.writeHead(req.method === 'PUT' ? 200 : 405).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    receiver = new ResponseReceiver(server, `https://127.0.0.1:${port}/cloudformation-response/${randomUUID()}?X-Amz-Signature=local`);
    return receiver;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

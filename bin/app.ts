import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { StageConfigError, loadStageConfig } from '../lib/config/stage-config';
import { ArtifactsMismatchError } from '../lib/constructs/job-artifacts';
import { addPlatform } from '../lib/stacks/platform';
import { addPlatformOutputs } from '../lib/stacks/platform-outputs';
import { addDeploymentPipeline, type DeploymentPipelineStack } from '../lib/stacks/deployment-pipeline-stack';
import { ArtifactSizeError, checkCfnActionInputSize } from '../lib/stacks/cloud-assembly-size';
import { CapacityError } from '../lib/pipelines/capacity';

/**
 * CDK app entry: `cdk synth` / `cdk deploy` (stage `dev` by default, `-c stage=prod` for another).
 * cdk-nag (AwsSolutions + Serverless) runs on every synth: an unacknowledged finding fails it.
 */
const app = new App();
let config;
try {
  config = loadStageConfig((key) => app.node.tryGetContext(key));
} catch (e) {
  if (e instanceof StageConfigError) {
    console.error(e.message);
    process.exit(1);
  }
  throw e;
}
let pipelineStack: DeploymentPipelineStack | undefined;
if (config.pipeline.enabled) {
  // CI/CD: the app is the deployment pipeline, which deploys dev, smoke-tests it, and after approval prod.
  const stageConfig = (stage: string) => loadStageConfig((key) => (key === 'stage' ? stage : app.node.tryGetContext(key)));
  try {
    pipelineStack = addDeploymentPipeline(app, config, stageConfig);
  } catch (e) {
    if (e instanceof StageConfigError || e instanceof ArtifactsMismatchError || e instanceof CapacityError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
} else {
  // `-c artifactsDir=<dir>`: job artifacts packaged somewhere other than artifacts/ (`npm run package`'s output);
  // `-c acceptHostArtifacts=true`: a host build is fine (an app run on this machine, never deployed)
  const artifactsDir: string | undefined = app.node.tryGetContext('artifactsDir');
  const acceptHostArtifacts = String(app.node.tryGetContext('acceptHostArtifacts')) === 'true';
  try {
    addPlatformOutputs(addPlatform(app, config, { ...(artifactsDir ? { artifactsDir } : {}), acceptHostArtifacts }));
  } catch (e) {
    if (e instanceof ArtifactsMismatchError || e instanceof CapacityError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
const assembly = app.synth();
if (pipelineStack) {
  // R3: what the pipeline's CloudFormation actions receive (the assembly without the job artifacts its
  // PublishJobArtifacts step publishes first) must stay under CodePipeline's 256 MB input-artifact limit
  try {
    checkCfnActionInputSize(assembly.directory, { publishedSeparately: pipelineStack.publishedBeforeDeploy });
  } catch (e) {
    if (e instanceof ArtifactSizeError) {
      console.error(e.message);
      process.exit(1);
    }
    throw e;
  }
}
